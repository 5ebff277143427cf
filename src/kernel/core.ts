/**
 * What the kernel's internals share: the booted subsystems and the process table. The step loop
 * (./runner.ts), the syscall gate (./syscall-gate.ts) and its mechanisms (./services.ts), the commit
 * (./commit.ts) and the lifecycle (./lifecycle.ts) receive a `KernelCore`, never the user-facing `Kernel`
 * (./kernel.ts), so no internal can call back into the facade. Built in boot order by ./boot.ts.
 *
 * This file imports types only, and only from modules that do not import it back.
 */
import type { AosConfig } from '../config/schema.js';
import type { ContextManager } from '../context/manager.js';
import type { HookBus } from '../hooks/bus.js';
import type { Learning } from '../learning/learning.js';
import type { KernelMetrics } from '../metrics/registry.js';
import type { KernelTracer } from '../metrics/tracing.js';
import type { AuditAnchors } from '../security/anchors.js';
import type { Storage } from '../storage/storage.js';
import type { Cpu } from './cpu.js';
import type { ToolRuntime } from './device-binding.js';
import type { ModelResolver } from './model-resolver.js';
import type { ProcessTable } from './process-table.js';
import type { ProgramRegistry } from './program.js';
import type { KernelServices } from './syscalls.js';

export interface KernelCore {
  readonly nodeId: string;
  readonly config: AosConfig;
  /** The config file read at boot (null for inline options). */
  readonly configFile: string | null;
  readonly storage: Storage;
  readonly models: ModelResolver;
  readonly cpu: Cpu;
  readonly context: ContextManager;
  readonly tools: ToolRuntime;
  readonly anchors: AuditAnchors | null;
  /** The syscall mechanisms the gate dispatches to, plus the mailbox wake-up. */
  readonly services: KernelServices & { wakeMailbox(pid: number): void };
  readonly hooks: HookBus;
  readonly metrics: KernelMetrics;
  /** Spans per step, model call and tool call; `noTracer` unless telemetry.otlp_endpoint is set. */
  readonly tracer: KernelTracer;
  readonly programs: ProgramRegistry;
  readonly procs: ProcessTable;
  readonly learning: Learning;
  /** True once shutdown has begun: loops unwind, nothing new starts. */
  readonly stopping: boolean;
}
