/**
 * Process supervision shared by every sandbox: spawn in a new process group, feed stdin, capture stdout and
 * stderr up to a byte cap (the command is killed once it has produced far more than can be kept), kill the
 * whole group on wall-clock timeout or abort. The result never throws for a non-zero exit.
 */
import { spawn } from 'node:child_process';
import * as P from '../../param.js';
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

export function runSupervised(
  command: string,
  args: readonly string[],
  opts: RunOptions,
): Promise<SandboxResult> {
  const started = performance.now();
  return new Promise((resolvePromise) => {
    let killed: KillReason | undefined;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let kept = 0;
    let seen = 0;
    let truncated = false;
    let settled = false;
    const child = spawn(command, [...args], {
      cwd: opts.cwd,
      env: opts.env,
      detached: true, // own process group: a kill reaches every descendant
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const killGroup = (reason: KillReason) => {
      if (killed || child.exitCode !== null) return;
      killed = reason;
      const pid = child.pid;
      setTimeout(() => opts.onKill?.(), P.SANDBOX_KILL_GRACE_MS).unref();
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
      }, P.SANDBOX_KILL_GRACE_MS).unref();
    };
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      seen += chunk.length;
      const room = opts.maxOutputBytes - kept;
      if (room > 0) {
        const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
        into.push(part);
        kept += part.length;
      }
      if (chunk.length > room) truncated = true;
      // Endless output: stop the command once it is far past what we keep (it would only burn CPU).
      if (seen > opts.maxOutputBytes * 2 + 65_536) killGroup('output');
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    child.stdin.on('error', () => {
      // the command exited without reading its input: not an error of ours
    });
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
    else child.stdin.end();
    const timer = setTimeout(() => killGroup('timeout'), opts.timeoutMs);
    timer.unref();
    const onAbort = () => killGroup('abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted) onAbort();
    const finish = (exitCode: number | null, signal: string | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      const stderr = Buffer.concat(err).toString('utf8') + (spawnError ? `\n${spawnError.message}` : '');
      resolvePromise({
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
}
