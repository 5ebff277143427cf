/** `aos run "<task>"`: one agent, its steps shown live, exit code 0 when it answers and 1 when it fails. */
import { isAbsolute, relative, sep } from 'node:path';
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import type { ProcessInfo } from '../../kernel/info.js';
import type { StepRecord } from '../../kernel/program.js';
import { CLI_RECONNECT_MS } from '../../param.js';
import { setLogLevel } from '../../util/log.js';
import { ApprovalPrompter } from '../approval-prompt.js';
import {
  type HttpClient,
  type PendingApprovalView,
  type ServerEvent,
  type StepItem,
  serverClient,
} from '../client.js';
import { style, termSafe, writeOut } from '../format.js';
import { type DeltaEvent, LiveTokens, type RestartEvent } from '../live-tokens.js';

interface RunOpts {
  model?: string;
  agent?: string;
  system?: string;
  priority?: string;
  maxSteps?: string;
  storage?: string;
  json?: boolean;
  quiet?: boolean;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('run one agent on a task and show its steps live')
    .argument('<task>', 'what the agent should do')
    .option('-m, --model <name>', 'model (default: default_model from config, else the simulator)')
    .option('-a, --agent <profile>', 'start from a profile in config agents: (see `aos agents`)')
    .option('-s, --system <text>', "the agent's persona / system prompt")
    .option('-p, --priority <n>', "priority 0–99, lower is more urgent (default 50, or the profile's)")
    .option('--max-steps <n>', 'step limit', '20')
    .option('--storage <url>', 'storage URL (default from config; memory:// keeps nothing)')
    .option('--json', 'print one JSON event per line instead of the live view')
    .option('-q, --quiet', 'print only the answer')
    .action(async (task: string, opts: RunOpts) => {
      process.exitCode = await runTask(task, opts, program.opts().config as string | undefined);
    });
}

/** Whether `aos run` can ask y/n: both ends on a terminal, and not writing JSON for a program. */
function interactive(opts: RunOpts): boolean {
  return process.stdin.isTTY === true && process.stdout.isTTY === true && !opts.json;
}

/** The command a user types to reach the same kernel (for "decide with …" hints). */
function aosCommand(configPath?: string): string {
  return configPath ? `aos -c ${configPath}` : 'aos';
}

export async function runTask(task: string, opts: RunOpts, configPath?: string): Promise<number> {
  setLogLevel(opts.json || opts.quiet ? 'error' : 'warn');
  // A running `aos start` owns the storage: hand the agent to it rather than fight over the data dir.
  const server = opts.storage ? null : await findServer(configPath);
  if (server) return runOnServer(server, task, opts, configPath);
  // the kernel only when it runs here: handing the agent to a server needs none of it
  const [{ createKernel }, { findProfile }] = await Promise.all([
    import('../../kernel/kernel.js'),
    import('../../kernel/profiles.js'),
  ]);
  const kernel = await createKernel({
    ...(configPath ? { configPath } : {}),
    ...(opts.storage ? { storage: opts.storage } : {}),
    recover: false,
    plugins: true,
  });
  const out = writeOut;
  const maxSteps = Number(opts.maxSteps ?? 20);
  try {
    const model =
      opts.model ??
      (opts.agent ? findProfile(kernel.config, opts.agent).model : undefined) ??
      kernel.models.defaultModel();
    const info = kernel.models.describe(model);
    if (!opts.json && !opts.quiet) {
      out(
        `${style.bold('aos run')}  model ${style.cyan(model)}${info.simulated ? style.yellow(' (simulator — not a real model)') : ''}\n`,
      );
    }
    let pidRef = 0;
    // The approvals of this run: only its terminal can answer them. On a cluster (a postgres:// storage)
    // its process may have moved to another node, which then asks: the list and the decision are the
    // cluster's (kernel.approvals), woken by this node's hook and by the other nodes' fanned-out events.
    const prompter = new ApprovalPrompter(
      {
        mode: interactive(opts) ? 'ask' : 'deny',
        json: opts.json === true,
        out,
        aos: aosCommand(configPath),
      },
      (id, d, reason) =>
        d === 'approve'
          ? kernel.approvals.approve(id, 'cli:aos-run', reason)
          : kernel.approvals.deny(id, 'cli:aos-run', reason),
    );
    const offerPending = async (pid: number) => {
      if (pid !== pidRef) return;
      const items = await kernel.approvals.all(pid);
      await prompter.offer(
        items.map((p) => ({
          ...p,
          createdAt: p.createdAt.toISOString(),
          expiresAt: p.expiresAt.toISOString(),
        })),
      );
    };
    kernel.hooks.on('approval.pending', (e) => void offerPending(e.pid));
    kernel.node?.events.subscribe((type, e) => {
      if (type === 'approval.pending') void offerPending((e as { pid: number }).pid);
    });
    // Tokens as they stream, then each step's summary once it commits.
    const live = new LiveTokens(out);
    if (!opts.json && !opts.quiet) {
      kernel.hooks.on('llm.delta', (e) => {
        if (e.pid === pidRef) live.delta(e);
      });
      kernel.hooks.on('llm.restart', (e) => {
        if (e.pid === pidRef) live.restart(e);
      });
    }
    kernel.hooks.on('proc.step', (e) => {
      if (e.pid !== pidRef) return;
      if (opts.json)
        out(`${JSON.stringify({ event: 'step', pid: e.pid, step: e.stepNo, record: e.record })}\n`);
      else if (!opts.quiet) {
        live.end();
        out(renderStep(e.stepNo, maxSteps, e.record as StepRecord));
      }
    });
    const pid = await kernel.spawn({
      ...(opts.agent ? { agent: opts.agent } : { name: 'cli' }),
      ...(opts.system ? { system: opts.system } : {}),
      task,
      ...(opts.priority !== undefined ? { priority: Number(opts.priority) } : {}),
      model,
      args: { maxSteps },
    });
    pidRef = pid;
    const st = await kernel.wait(pid);
    live.end();
    const p = await kernel.get(pid);
    const ok = st.exitReason === null && (st.state === 'terminated' || st.state === 'zombie');
    if (opts.json) {
      out(
        `${JSON.stringify({ event: 'exit', pid, ok, result: st.result, exitReason: st.exitReason, usage: p.usage, steps: p.stepNo, workspace: p.workspace })}\n`,
      );
    } else if (opts.quiet) {
      out(ok ? `${termSafe(String(st.result))}\n` : '');
      if (!ok) process.stderr.write(`aos: agent failed: ${termSafe(String(st.exitReason))}\n`);
    } else {
      const u = p.usage;
      out(
        `${style.dim(`── pid ${pid} · ${p.stepNo} steps · tokens in ${u.tokensIn} (cached ${u.tokensCached}) out ${u.tokensOut} · $${u.cost.toFixed(6)}`)}\n`,
      );
      out(
        ok
          ? `${style.green('answer:')} ${termSafe(String(st.result))}\n`
          : `${style.red('failed:')} ${termSafe(String(st.exitReason))}\n`,
      );
      out(filesLine(p.workspace));
    }
    return ok ? 0 : 1;
  } catch (err) {
    if (err instanceof KernelError) throw err;
    throw KernelError.wrap(err, 'EINVAL', 'aos run');
  } finally {
    await kernel.shutdown();
  }
}

/** The server running on this config, if one answers (located and probed as every client command does). */
function findServer(configPath?: string): Promise<HttpClient | null> {
  return serverClient(configPath ? { configPath } : {});
}

/** The same live view, fed by the server's event stream; the process runs inside the server's kernel. */
async function runOnServer(
  client: HttpClient,
  task: string,
  opts: RunOpts,
  configPath?: string,
): Promise<number> {
  const out = writeOut;
  const prompter = new ApprovalPrompter(
    { mode: interactive(opts) ? 'ask' : 'print', json: opts.json === true, out, aos: aosCommand(configPath) },
    async (id, d, reason) => {
      await client.decide(id, d, reason);
    },
  );
  const offerPending = async () => {
    const mine = (await client.approvals()).filter((a: PendingApprovalView) => a.pid === pid);
    await prompter.offer(mine);
  };
  const maxSteps = Number(opts.maxSteps ?? 20);
  if (!opts.json && !opts.quiet)
    out(`${style.bold('aos run')}  on the kernel at ${style.cyan(client.target)}\n`);
  let pid = 0;
  const early: ServerEvent[] = [];
  let exited: () => void = () => undefined;
  const exit = new Promise<void>((r) => {
    exited = r;
  });
  const live = new LiveTokens(out);
  let lastStep = 0;
  const showStep = (stepNo: number, record: StepRecord) => {
    if (stepNo <= lastStep) return; // already shown (a catch-up after a reconnect overlaps the stream)
    lastStep = stepNo;
    if (opts.json) out(`${JSON.stringify({ event: 'step', pid, step: stepNo, record })}\n`);
    else if (!opts.quiet) {
      live.end();
      out(renderStep(stepNo, maxSteps, record));
    }
  };
  const handle = (e: ServerEvent) => {
    if (e.data.pid !== pid) return;
    if (e.event === 'llm.delta') live.delta(e.data as unknown as DeltaEvent);
    else if (e.event === 'llm.restart') live.restart(e.data as unknown as RestartEvent);
    else if (e.event === 'proc.step')
      showStep(Number(e.data.stepNo), (e.data.record ?? { kind: 'step' }) as StepRecord);
    else if (e.event === 'approval.pending') void offerPending().catch(() => undefined);
    else if (e.event === 'proc.exit') {
      live.end();
      exited();
    }
  };
  // The event stream is the live view; it is opened again after the kernel comes back from a restart.
  const ac = new AbortController();
  let streamUp = false;
  let stream: Promise<void> = Promise.resolve();
  const openStream = () => {
    streamUp = true;
    stream = client
      .events((e) => (pid ? handle(e) : early.push(e)), ac.signal, { deltas: !opts.json && !opts.quiet })
      .catch(() => undefined)
      .finally(() => {
        streamUp = false;
      });
  };
  openStream();
  try {
    pid = (
      await client.request<{ pid: number }>('POST', '/processes', {
        ...(opts.agent ? { agent: opts.agent } : { name: 'cli' }),
        ...(opts.system ? { system: opts.system } : {}),
        task,
        ...(opts.priority !== undefined ? { priority: Number(opts.priority) } : {}),
        ...(opts.model ? { model: opts.model } : {}),
        args: { maxSteps },
      })
    ).pid;
    for (const e of early.splice(0)) handle(e);
    // Polling is the backstop if the stream drops. A kernel that stops answering (killed, restarting under
    // a supervisor) is waited for: the process is durable and goes on when the kernel is back.
    let downSince: number | null = null;
    for (;;) {
      const done = await Promise.race([
        exit.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
      ]);
      let p: ProcessInfo;
      try {
        p = await client.getProcess(pid);
      } catch (err) {
        if (!unreachable(err)) throw err;
        if (downSince === null) {
          downSince = Date.now();
          live.end();
          process.stderr.write(
            `aos: the kernel at ${client.target} stopped answering (${(err as Error).message.split('; ')[0]}); pid ${pid} is durable — waiting up to ${CLI_RECONNECT_MS / 1000} s for the kernel to come back (Ctrl-C stops waiting, the agent goes on)\n`,
          );
        } else if (Date.now() - downSince > CLI_RECONNECT_MS) throw err;
        continue;
      }
      if (downSince !== null || !streamUp) {
        if (downSince !== null) process.stderr.write(`aos: the kernel is back; following pid ${pid} again\n`);
        downSince = null;
        // what committed while we could not see it, then the live view again
        const missed = await client.request<{ items: StepItem[] }>(
          'GET',
          `/processes/${pid}/steps?after=${lastStep}&limit=1000`,
        );
        for (const s of missed.items) showStep(s.stepNo, s.record as StepRecord);
        if (!streamUp) openStream();
      }
      if (done || p.state === 'zombie' || p.state === 'terminated') return report(p);
      // backstop for an approval.pending event the stream missed
      if (p.state === 'waiting' && p.waitOn.startsWith('approval'))
        void offerPending().catch(() => undefined);
    }
  } finally {
    ac.abort();
    await stream;
  }

  function report(p: ProcessInfo): number {
    const ok = p.exitReason === null;
    if (opts.json)
      out(
        `${JSON.stringify({ event: 'exit', pid, ok, result: p.result, exitReason: p.exitReason, usage: p.usage, steps: p.stepNo, workspace: p.workspace })}\n`,
      );
    else if (opts.quiet) {
      if (ok) out(`${termSafe(String(p.result))}\n`);
      else process.stderr.write(`aos: agent failed: ${termSafe(String(p.exitReason))}\n`);
    } else {
      const u = p.usage;
      out(
        `${style.dim(`── pid ${pid} · ${p.stepNo} steps · tokens in ${u.tokensIn} (cached ${u.tokensCached}) out ${u.tokensOut} · $${u.cost.toFixed(6)}`)}\n`,
      );
      out(
        ok
          ? `${style.green('answer:')} ${termSafe(String(p.result))}\n`
          : `${style.red('failed:')} ${termSafe(String(p.exitReason))}\n`,
      );
      out(filesLine(p.workspace));
    }
    return ok ? 0 : 1;
  }
}

/** Where the process's files are (its workspace, kept after exit until `aos workspace rm <pid>`). */
function filesLine(workspace: string): string {
  if (!workspace) return '';
  const rel = relative(process.cwd(), workspace);
  const shown = rel && !rel.startsWith('..') && !isAbsolute(rel) ? `.${sep}${rel}` : workspace;
  return `${style.dim('files:')} ${termSafe(shown)}\n`;
}

/** The kernel did not answer at all (connection refused or reset), as opposed to answering an error. */
function unreachable(err: unknown): boolean {
  return err instanceof KernelError && err.code === 'EBACKEND' && err.cause !== undefined;
}

function clip(s: string, n = 300): string {
  const one = termSafe(s.replace(/\s+/g, ' ').trim());
  return one.length > n ? `${one.slice(0, n)}…` : one;
}

export function renderStep(stepNo: number, maxSteps: number, r: StepRecord): string {
  const lines = [`${style.bold(`[step ${stepNo}/${maxSteps}]`)}`];
  if (r.thought) lines.push(`  ${style.magenta('thought')} ${clip(r.thought)}`);
  for (const c of r.toolCalls ?? []) {
    lines.push(`  ${style.cyan('call')}    ${termSafe(c.name)}(${clip(c.arguments, 200)})`);
    if (c.output !== undefined)
      lines.push(`  ${c.ok === false ? style.red('error') : style.green('result')}  ${clip(c.output)}`);
  }
  if (r.text && r.kind !== 'answer') lines.push(`  ${style.dim('text')}    ${clip(r.text)}`);
  return `${lines.join('\n')}\n`;
}
