/**
 * Process supervision shared by every sandbox: spawn in a new process group, feed stdin, capture stdout and
 * stderr up to a byte cap (the command is killed once it has produced far more than can be kept), kill the
 * whole group on wall-clock timeout or abort. The result never throws for a non-zero exit.
 *
 * Commands are spawned by a small helper process (the spawner), not by the kernel: Node's spawn() forks
 * the calling process synchronously, and fork copies the page tables of the whole address space — with
 * PGlite's WASM heap the kernel is 0.5–1.5 GB, and each spawn stopped its event loop for 180–500 ms on
 * this machine (every HTTP request, every other agent). The spawner is a bare Node process of ~40 MB
 * started once (detached, so terminal signals go to the kernel alone); it runs the same supervision code
 * (supervisor() below, shipped to it as source) and sends back only the result. It exits when the kernel
 * does; if it dies, the calls in flight fail with ESPAWNER-like stderr and their process groups are
 * killed, and the next call starts a new one. Where it cannot start, commands are supervised in-process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import * as P from '../../param.js';
import { logger } from '../../util/log.js';
import type { KillReason, SandboxResult } from '../sandbox.js';

export interface RunOptions {
  cwd?: string;
  env: Record<string, string>;
  stdin?: string;
  signal?: AbortSignal;
  timeoutMs: number;
  maxOutputBytes: number;
  /** Also called when the command is killed: reaches what a process-group kill cannot (a cgroup). */
  onKill?: () => void;
}

/** One command for the supervisor: plain data, so it can cross to the spawner. */
interface RunRequest {
  command: string;
  args: string[];
  cwd?: string;
  env: Record<string, string>;
  stdin?: string;
  timeoutMs: number;
  maxOutputBytes: number;
  graceMs: number;
}

interface SupervisorHooks {
  spawned(pid: number | undefined): void;
  killing(): void;
}

interface Supervisor {
  run(
    r: RunRequest,
    hooks: SupervisorHooks,
  ): { done: Promise<SandboxResult>; kill(reason: KillReason): void };
}

/**
 * The supervision code. Self-contained — it uses nothing but its parameter and globals — because the
 * spawner runs it from its source text (`node -e`); the in-process fallback calls it directly.
 */
function supervisor(load: (id: string) => unknown): Supervisor {
  const cp = load('node:child_process') as typeof import('node:child_process');
  return {
    run(r, hooks) {
      const started = performance.now();
      let killed: KillReason | undefined;
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let kept = 0;
      let seen = 0;
      let truncated = false;
      let settled = false;
      const child = cp.spawn(r.command, r.args, {
        cwd: r.cwd,
        env: r.env,
        detached: true, // own process group: a kill reaches every descendant
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      hooks.spawned(child.pid);
      const killGroup = (reason: KillReason) => {
        if (killed || child.exitCode !== null) return;
        killed = reason;
        const pid = child.pid;
        hooks.killing();
        if (pid === undefined) return;
        try {
          process.kill(-pid, 'SIGTERM');
        } catch {
          // group already gone
        }
        setTimeout(() => {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // group already gone
          }
        }, r.graceMs).unref();
      };
      const collect = (into: Buffer[]) => (chunk: Buffer) => {
        seen += chunk.length;
        const room = r.maxOutputBytes - kept;
        if (room > 0) {
          const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
          into.push(part);
          kept += part.length;
        }
        if (chunk.length > room) truncated = true;
        // Endless output: stop the command once it is far past what we keep (it would only burn CPU).
        if (seen > r.maxOutputBytes * 2 + 65_536) killGroup('output');
      };
      child.stdout.on('data', collect(out));
      child.stderr.on('data', collect(err));
      child.stdin.on('error', () => {
        // the command exited without reading its input: not an error of ours
      });
      if (r.stdin !== undefined) child.stdin.end(r.stdin);
      else child.stdin.end();
      const timer = setTimeout(() => killGroup('timeout'), r.timeoutMs);
      timer.unref();
      const done = new Promise<SandboxResult>((resolve) => {
        const finish = (exitCode: number | null, signal: string | null, spawnError?: Error) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          const stderr = Buffer.concat(err).toString('utf8') + (spawnError ? `\n${spawnError.message}` : '');
          resolve({
            exitCode: spawnError ? 127 : exitCode,
            signal,
            stdout: Buffer.concat(out).toString('utf8'),
            stderr,
            truncated,
            durationMs: performance.now() - started,
            ...(killed ? { killed } : {}),
          });
        };
        child.on('error', (e) => finish(null, null, e));
        child.on('close', (code, sig) => finish(code, sig));
      });
      return { done, kill: killGroup };
    },
  };
}

/** The spawner's main program, run from source: serves runs over IPC, dies with its parent. */
function spawnerMain(load: (id: string) => unknown, make: typeof supervisor): void {
  const sup = make(load);
  const runs = new Map<number, { kill(reason: KillReason): void; pid?: number }>();
  const send = (m: unknown) => process.send?.(m);
  process.on('message', (m: { t: string; id: number; req?: RunRequest; reason?: KillReason }) => {
    if (m.t === 'kill') {
      runs.get(m.id)?.kill(m.reason ?? 'abort');
      return;
    }
    if (m.t !== 'run' || !m.req) return;
    const entry: { kill(reason: KillReason): void; pid?: number } = { kill: () => {} };
    runs.set(m.id, entry);
    try {
      const h = sup.run(m.req, {
        spawned: (pid) => {
          if (pid !== undefined) entry.pid = pid;
          send({ t: 'spawned', id: m.id, pid });
        },
        killing: () => send({ t: 'killing', id: m.id }),
      });
      entry.kill = h.kill;
      void h.done.then((result) => {
        runs.delete(m.id);
        send({ t: 'done', id: m.id, result });
      });
    } catch (e) {
      runs.delete(m.id);
      send({ t: 'failed', id: m.id, message: e instanceof Error ? e.message : String(e) });
    }
  });
  // The kernel is gone: nothing may outlive it.
  process.on('disconnect', () => {
    for (const r of runs.values()) {
      try {
        if (r.pid !== undefined) process.kill(-r.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    process.exit(0);
  });
}

interface Pending {
  resolve(r: SandboxResult): void;
  onKill?: () => void;
  pid?: number;
  started: number;
}

const log = logger('sandbox.spawner');

class Spawner {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private local: Supervisor | null = null;

  private ensure(): ChildProcess | null {
    if (this.child) return this.child;
    if (this.local) return null;
    try {
      const src = `(${spawnerMain.toString()})(require, ${supervisor.toString()});`;
      const child = spawn(process.execPath, ['-e', src], {
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
        detached: true,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      });
      child.on(
        'message',
        (m: { t: string; id: number; pid?: number; result?: SandboxResult; message?: string }) =>
          this.onMessage(m),
      );
      child.on('error', (e) => this.lost(child, e.message));
      child.on('exit', (code, sig) => this.lost(child, `exited (${sig ?? code})`));
      this.child = child;
      this.idle();
      return child;
    } catch (e) {
      log.warnOnce('spawner', 'cannot start the spawner process; commands are spawned by the kernel itself', {
        error: e instanceof Error ? e.message : String(e),
      });
      this.local = supervisor(createRequire(import.meta.url));
      return null;
    }
  }

  /** The spawner keeps the kernel alive only while a command runs. */
  private idle(): void {
    const c = this.child;
    if (!c) return;
    const busy = this.pending.size > 0;
    const ch = c.channel as { ref?(): void; unref?(): void } | null | undefined;
    if (busy) {
      c.ref();
      ch?.ref?.();
    } else {
      c.unref();
      ch?.unref?.();
    }
  }

  private onMessage(m: {
    t: string;
    id: number;
    pid?: number;
    result?: SandboxResult;
    message?: string;
  }): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.t === 'spawned') {
      if (m.pid !== undefined) p.pid = m.pid;
    } else if (m.t === 'killing') {
      const k = p.onKill;
      if (k) setTimeout(k, P.SANDBOX_KILL_GRACE_MS).unref();
    } else if (m.t === 'done' || m.t === 'failed') {
      this.pending.delete(m.id);
      this.idle();
      p.resolve(
        m.result ?? {
          exitCode: 127,
          signal: null,
          stdout: '',
          stderr: m.message ?? 'spawn failed',
          truncated: false,
          durationMs: performance.now() - p.started,
        },
      );
    }
  }

  /** The spawner died: its calls fail (their process groups are killed), the next call starts another. */
  private lost(child: ChildProcess, why: string): void {
    if (this.child !== child) return;
    this.child = null;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.pid !== undefined) {
        try {
          process.kill(-p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      p.onKill?.();
      p.resolve({
        exitCode: null,
        signal: null,
        stdout: '',
        stderr: `the kernel's spawner process ${why} while the command ran; it was stopped and its outcome is unknown`,
        truncated: false,
        durationMs: performance.now() - p.started,
      });
    }
  }

  warm(): void {
    this.ensure();
  }

  run(command: string, args: readonly string[], opts: RunOptions): Promise<SandboxResult> {
    const req: RunRequest = {
      command,
      args: [...args],
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      env: opts.env,
      ...(opts.stdin !== undefined ? { stdin: opts.stdin } : {}),
      timeoutMs: opts.timeoutMs,
      maxOutputBytes: opts.maxOutputBytes,
      graceMs: P.SANDBOX_KILL_GRACE_MS,
    };
    const child = this.ensure();
    if (!child) return this.runLocal(req, opts);
    const id = ++this.seq;
    return new Promise<SandboxResult>((resolve) => {
      const onAbort = () => child.send({ t: 'kill', id, reason: 'abort' });
      this.pending.set(id, {
        resolve: (r) => {
          opts.signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
        ...(opts.onKill ? { onKill: opts.onKill } : {}),
        started: performance.now(),
      });
      this.idle();
      try {
        child.send({ t: 'run', id, req });
      } catch (e) {
        this.lost(child, `could not be reached (${e instanceof Error ? e.message : String(e)})`);
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.signal?.aborted) onAbort();
    });
  }

  private runLocal(req: RunRequest, opts: RunOptions): Promise<SandboxResult> {
    const h = (this.local as Supervisor).run(req, {
      spawned: () => {},
      killing: () => {
        if (opts.onKill) setTimeout(opts.onKill, P.SANDBOX_KILL_GRACE_MS).unref();
      },
    });
    const onAbort = () => h.kill('abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    return h.done.finally(() => opts.signal?.removeEventListener('abort', onAbort));
  }
}

let shared: Spawner | null = null;

/** Starts the spawner now (at kernel boot, while the heap is small), so no command pays for its fork. */
export function warmSpawner(): void {
  shared ??= new Spawner();
  shared.warm();
}

export function runSupervised(
  command: string,
  args: readonly string[],
  opts: RunOptions,
): Promise<SandboxResult> {
  shared ??= new Spawner();
  return shared.run(command, args, opts);
}
