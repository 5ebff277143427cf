/**
 * Shared by the end-to-end tests that run the kernel as a user does: `aos start` in a child OS process
 * (so the test can SIGKILL it), and a throwaway PostgreSQL schema for a test's storage URL.
 */
import { type ChildProcess, spawn } from 'node:child_process';

const MAIN = new URL('../../dist/cli/main.js', import.meta.url).pathname;
export const PG_URL = process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface AosChild {
  child: ChildProcess;
  /** The server's base URL, e.g. http://127.0.0.1:40123 (the API is under /api/v1, the gateway under /v1). */
  url: string;
}

/**
 * Starts `aos --config <config> start --no-demo` and resolves once it prints its API address; rejects with
 * its output if it exits first. Every child is pushed to `children` so an afterAll can kill what is left.
 */
export function startAos(config: string, children: ChildProcess[]): Promise<AosChild> {
  const child = spawn(process.execPath, [MAIN, '--config', config, 'start', '--no-demo'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AOS_LOG: 'warn', NO_COLOR: '1' },
  });
  children.push(child);
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /API\s+(http:\/\/127\.0\.0\.1:\d+)\/api\/v1/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code, signal) =>
      reject(new Error(`aos start exited ${code ?? signal}:\n${out}\n${err}`)),
    );
  });
}

/** Sends `signal` and resolves once the child has exited. */
export async function stopAos(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

/** Runs `fn` with the URL of a fresh schema on the test server, and drops the schema afterwards. */
export async function withPgSchema<T>(prefix: string, fn: (url: string) => Promise<T>): Promise<T> {
  const schema = `${prefix}_${process.pid}_${Date.now().toString(36)}`;
  try {
    return await fn(`${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`);
  } finally {
    const pg = await import('pg');
    const c = new pg.default.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  }
}
