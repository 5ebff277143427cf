/**
 * `aos start` (`npm start`): boots the kernel from config.yaml, serves the HTTP API, the dashboard and
 * /metrics (src/api/server.ts), prints where everything is — the admin token's FILE, never the token — and,
 * with no provider key configured, spawns demo agents on the simulator. SIGINT/SIGTERM shut down gracefully
 * (state is already committed step by step); a second signal exits at once.
 */
import type { Command } from 'commander';
import { VERSION } from '../../api/routes/system.js';
import { createServer } from '../../api/server.js';
import { KernelError } from '../../errors.js';
import { GatewayRuntime } from '../../gateway/program.js';
import { embedderInfo } from '../../kernel/embeddings.js';
import { createKernel, type Kernel } from '../../kernel/kernel.js';
import { setLogLevel } from '../../util/log.js';
import { DEMO_AGENTS, spawnDemoAgents } from '../demo-agents.js';
import { style } from '../format.js';

interface StartOpts {
  host?: string;
  port?: string;
  storage?: string;
  demo?: boolean;
}

export function register(program: Command): void {
  program
    .command('start')
    .description('boot the kernel and serve the API, dashboard and /metrics (127.0.0.1:7878 by default)')
    .option('--host <address>', 'listen address (non-loopback only if config.yaml server.host names it)')
    .option('-p, --port <n>', 'port (default server.port, 7878; 0 picks a free one)')
    .option('--storage <url>', 'storage URL (default storage.url from config; memory:// keeps nothing)')
    .option('--no-demo', 'do not spawn demo agents even when no provider key is configured')
    .action(async (opts: StartOpts) => {
      await start(opts, program.opts().config as string | undefined);
    });
}

export async function start(opts: StartOpts, configPath?: string): Promise<void> {
  setLogLevel((process.env.AOS_LOG as 'info' | undefined) ?? 'info');
  const port = opts.port === undefined ? undefined : Number(opts.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new KernelError('EINVAL', `--port must be an integer 0–65535, got "${opts.port}"`);
  }
  const kernel = await createKernel({
    ...(configPath ? { configPath } : {}),
    ...(opts.storage ? { storage: opts.storage } : {}),
    // Registered at boot, so live gateway sessions recover with the kernel (the server attaches to it).
    programs: [new GatewayRuntime().program],
  });
  let server: Awaited<ReturnType<typeof createServer>>;
  try {
    server = await createServer(kernel, {
      ...(opts.host ? { host: opts.host } : {}),
      ...(port !== undefined ? { port } : {}),
    });
  } catch (err) {
    await kernel.shutdown();
    throw err;
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      process.stderr.write(`aos: ${signal} again, exiting now\n`);
      process.exit(130);
    }
    stopping = true;
    process.stderr.write(
      `aos: ${signal} received, shutting down (state is committed; live processes resume on the next start)\n`,
    );
    try {
      await server.close();
      await kernel.shutdown();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const out = (s: string) => process.stdout.write(`${s}\n`);
  for (const line of await startBanner(kernel, server)) out(line);
  const simulated = kernel.models.describe(kernel.models.defaultModel()).simulated;
  if (simulated && kernel.config.server.demo_agents && opts.demo !== false) {
    const pids = await spawnDemoAgents(kernel);
    out(
      `  demo       ${DEMO_AGENTS.length} demo agents on the simulator (pids ${pids.join(', ')}${DEMO_AGENTS.length > pids.length ? ' and one more when its input is ready' : ''}); server.demo_agents: false turns them off`,
    );
  }
  out(style.dim('Ctrl-C stops the kernel.'));
}

/** What `aos start` prints about the running kernel: where to reach it, the model, memory, the sandbox. */
export async function startBanner(
  kernel: Kernel,
  server: { url: string; adminTokenFile: string; adminTokenCreated: boolean },
): Promise<string[]> {
  const model = kernel.models.defaultModel();
  const simulated = kernel.models.describe(model).simulated;
  return [
    `${style.bold(`agent-os-kernel ${VERSION}`)}  node ${kernel.nodeId}  storage ${kernel.storage.driver.location}`,
    `  dashboard  ${style.cyan(`${server.url}/`)}`,
    `  API        ${server.url}/api/v1   (OpenAPI: ${server.url}/docs, events: /api/v1/events)`,
    `  metrics    ${server.url}/metrics`,
    `  admin token: in ${style.bold(server.adminTokenFile)}${server.adminTokenCreated ? ' (created now)' : ''} — paste it into the dashboard login, or`,
    `             curl -H "Authorization: Bearer $(cat ${server.adminTokenFile})" ${server.url}/api/v1/processes`,
    `  model      ${model}${simulated ? style.yellow(' (built-in simulator: rule-based, not a language model — configure a provider key to use a real one)') : ''}`,
    `  memory     ${await memoryLine(kernel)}`,
    `  sandbox    ${sandboxLine(kernel)}`,
  ];
}

/** The sandbox and whether commands are isolated; `auto` without bubblewrap (commands refused) shows why. */
function sandboxLine(kernel: Kernel): string {
  const s = kernel.devices.sandboxStatus;
  if (s.isolated) {
    const how = s.name === 'bubblewrap' ? 'own namespaces, no capabilities, seccomp' : 'container';
    return `${s.name} (commands isolated: ${how})`;
  }
  if (s.name === 'unavailable') return `${s.name} ${style.yellow(`— ${s.warning}`)}`;
  return `${s.name} ${style.yellow(`— commands are NOT isolated: ${s.warning}`)}`;
}

/** The memory embedder and whether it is semantic; memories another model embedded are named with the fix. */
async function memoryLine(kernel: Kernel): Promise<string> {
  const m = kernel.memory;
  const info = embedderInfo(m.embedder);
  const counts = await m.modelCounts().catch(() => []);
  const stale = counts.filter((c) => c.model !== info.model).reduce((n, c) => n + c.count, 0);
  const what =
    info.kind === 'lexical'
      ? `${info.model} ${style.yellow('(lexical: matches words, not meanings — set embeddings: in config.yaml for a semantic model)')}`
      : `${info.model} (semantic${info.baseUrl ? `, ${info.baseUrl}` : ''})`;
  return stale
    ? `${what}\n             ${style.yellow(`${stale} memories were embedded by another model: run \`aos memory reembed\``)}`
    : what;
}
