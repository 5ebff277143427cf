/**
 * The boot sequence, in order, one line per subsystem: the table of contents of the kernel. It builds the
 * KernelCore (./core.ts) the internals share; the user-facing Kernel (./kernel.ts) wraps it, then loads
 * plugins and recovers live processes.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { loadConfig, parseConfig } from '../config/load.js';
import type { AosConfig, AosConfigInput } from '../config/schema.js';
import type { ContextManager } from '../context/manager.js';
import { registerContextMetrics } from '../context/metrics.js';
import { HookBus } from '../hooks/bus.js';
import { Learning } from '../learning/learning.js';
import { createKernelMetrics, type KernelMetrics } from '../metrics/registry.js';
import { type KernelTracer, noTracer } from '../metrics/tracing.js';
import { KERNEL_VERSION } from '../param.js';
import { AuditAnchors } from '../security/anchors.js';
import { guardKernelSecrets } from '../security/secrets.js';
import { createStorage, type Storage } from '../storage/storage.js';
import type { Embedder } from '../util/embedder.js';
import { createContextManager } from './context-binding.js';
import type { KernelCore } from './core.js';
import { Cpu } from './cpu.js';
import { createToolRuntime, type ToolRuntime } from './device-binding.js';
import { memoryEmbedder } from './embeddings.js';
import { holdLease } from './lease-guard.js';
import { createModelResolver, type ModelResolver } from './model-resolver.js';
import { ProcessTable } from './process-table.js';
import { type AgentProgram, ProgramRegistry } from './program.js';
import { reactProgram } from './react.js';
import { createServices } from './services.js';
import { makeSys } from './syscall-gate.js';

export interface KernelOptions {
  /** Inline configuration (config.yaml's shape); when absent, `configPath` or ./config.yaml is read. */
  config?: AosConfigInput;
  configPath?: string;
  /** Storage URL overriding config.storage.url (`memory://`, `pglite://DIR`, `postgres://…`). */
  storage?: string;
  nodeId?: string;
  /** Model lookup; defaults to the configured providers, falling back to the simulator. */
  models?: ModelResolver;
  /** The memory embedder; defaults to config's `embeddings:` model, else the lexical hashing embedder. */
  embedder?: Embedder;
  programs?: Array<AgentProgram<any>>;
  /** Resume live processes found in storage (default true). */
  recover?: boolean;
  /** Load `plugins:` from config (default true). */
  plugins?: boolean;
}

/** The core as boot fills it in; internals see it as the read-only KernelCore. */
export class Core implements KernelCore {
  readonly hooks = new HookBus();
  readonly programs = new ProgramRegistry();
  readonly metrics: KernelMetrics = createKernelMetrics();
  tracer: KernelTracer = noTracer;
  readonly procs: ProcessTable;
  config!: AosConfig;
  configFile: string | null = null;
  storage!: Storage;
  models!: ModelResolver;
  cpu!: Cpu;
  context!: ContextManager;
  tools!: ToolRuntime;
  anchors: AuditAnchors | null = null;
  services!: KernelCore['services'];
  stopping = false;
  private learningLayer: Learning | null = null;

  constructor(readonly nodeId: string) {
    this.procs = new ProcessTable(nodeId, this.metrics, this.hooks);
  }

  get learning(): Learning {
    this.learningLayer ??= new Learning(this.storage);
    return this.learningLayer;
  }
}

export async function bootCore(opts: KernelOptions, core?: Core): Promise<Core> {
  const c = core ?? new Core(opts.nodeId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`);
  loadConfiguration(c, opts); // config.yaml or inline options, validated
  const url = opts.storage ?? c.config.storage.url;
  mkdirSync(c.config.data_dir, { recursive: true, mode: 0o700 }); // private before anything is written in it
  c.storage = await createStorage(url, {
    dataDir: c.config.data_dir,
    embedder: opts.embedder ?? memoryEmbedder(c.config, c.configFile), // embeddings: section, else lexical
    snapshotEverySteps: c.config.storage.snapshot_every_steps,
    pgliteWorker: c.config.storage.pglite_worker,
  }); // driver + migrations + the five stores
  guardKernelSecrets({
    dataDir: c.config.data_dir,
    workspace: c.config.security.workspace,
    configFile: c.configFile,
    plugins: c.config.plugins,
    apiKeys: c.config.api_keys,
  }); // data dir, config, plugins denied to every policy; data dir 0700/0600; secret values redacted
  const otlp = c.config.telemetry.otlp_endpoint;
  if (otlp) {
    // loaded only when configured: with tracing off no OpenTelemetry module is imported
    const { createOtelTracer } = await import('../metrics/otel.js');
    c.tracer = await createOtelTracer({
      endpoint: otlp,
      headers: c.config.telemetry.headers,
      serviceName: c.config.telemetry.service_name,
      serviceVersion: KERNEL_VERSION,
      nodeId: c.nodeId,
    }); // OpenTelemetry spans per step, model call, tool call, exported over OTLP/HTTP
  }
  c.models = opts.models ?? createModelResolver(c.config); // providers, catalogue, simulator
  c.cpu = new Cpu(
    c.config,
    c.metrics,
    c.models,
    c.storage.driver.kind === 'postgres' ? { driver: c.storage.driver, nodeId: c.nodeId } : undefined,
    { driver: c.storage.driver, nodeId: c.nodeId },
  ); // scheduler: slots, queue, rate limits (shared by all nodes on a server)
  c.context = createContextManager(c); // pages, replacement, swap to storage, model summaries
  registerContextMetrics(c.metrics.registry, c.context); // /metrics: aos_context_* per process and per model
  c.tools = await createToolRuntime({
    ...hostOf(c),
    sysFor: (pc, step) => makeSys(c, pc, step),
    holdLease: (pc, what) => holdLease(c, pc, what),
  }); // registry, sandbox, executor, approvals, MCP
  if (!url.startsWith('memory://')) {
    // An in-memory database leaves nothing to anchor: its chain is gone when the kernel stops.
    c.anchors = new AuditAnchors(c.storage.audit, {
      dataDir: resolve(c.config.data_dir),
      intervalMs: c.config.security.audit_anchor_interval_s * 1000,
    });
    c.anchors.start(); // signed anchors of the audit chain heads, outside the database
  }
  c.services = createServices(c); // syscall mechanisms
  c.programs.register(reactProgram); // built-in ReAct agent
  for (const p of opts.programs ?? []) c.programs.register(p); // user programs
  return c;
}

function hostOf(c: Core) {
  return {
    config: c.config,
    configFile: c.configFile,
    storage: c.storage,
    hooks: c.hooks,
    procs: c.procs,
    nodeId: c.nodeId,
  };
}

function loadConfiguration(c: Core, opts: KernelOptions): void {
  if (opts.config) {
    c.config = parseConfig(opts.config, '<createKernel options>').config;
  } else {
    const loaded = loadConfig(opts.configPath ? { path: opts.configPath } : {});
    c.config = loaded.config;
    c.configFile = loaded.file;
  }
}
