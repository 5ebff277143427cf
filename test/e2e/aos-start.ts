/**
 * Shared by the end-to-end tests that run the kernel as a user does: a config.yaml pointed at the simulator,
 * `aos start` in a child OS process (so the test can SIGKILL it), and a throwaway PostgreSQL schema.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MAIN = new URL('../../dist/cli/main.js', import.meta.url).pathname;
export const PG_URL = process.env.AOS_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface AosChild {
  child: ChildProcess;
  /** The server's base URL, e.g. http://127.0.0.1:40123 (the API is under /api/v1, the gateway under /v1). */
  url: string;
}

/**
 * Writes `<dir>/config.yaml` for a child kernel whose one model, gpt-sim, is the simulator's OpenAI dialect at
 * `openaiUrl`, with the API on a free loopback port and no demo agents; `security` lines replace the default
 * `security: { sandbox: none }`. Returns the file's path.
 */
export function simConfig(
  dir: string,
  openaiUrl: string,
  o: { storage: string; security?: string[] },
): string {
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      `data_dir: ${dir}`,
      `storage: { url: "${o.storage}" }`,
      'server: { port: 0, demo_agents: false }',
      ...(o.security ?? ['security: { sandbox: none }']),
      'default_model: gpt-sim',
      'llms:',
      '  models:',
      `    - { name: gpt-sim, provider: openai, base_url: "${openaiUrl}", api_key: sk-provider-secret }`,
      '',
    ].join('\n'),
  );
  return config;
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
