/**
 * `aos audit verify|anchor|replay`: check the hash chain and the signed anchors (naming the first bad
 * entry; exit code 3 on tampering), write an anchor now, or show a process's actions from the log.
 * With a server running on the data dir they go through its API (POST /audit/verify {anchors},
 * POST /audit/anchor, GET /processes/:pid/timeline), because the server holds the storage lock;
 * without one (or with --storage/--data-dir) they open storage directly.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { type AnchoredVerifyResult, AuditAnchors, verifyWithAnchors } from '../../security/anchors.js';
import { processTimeline, type TimelineEntry } from '../../security/replay.js';
import { createStorage, type Storage } from '../../storage/storage.js';
import { type HttpClient, parseId, serverClient } from '../client.js';
import { style } from '../format.js';
import { clientOpts, URL_OPTION } from './server-options.js';

interface Opts {
  storage?: string;
  dataDir?: string;
  url?: string;
  json?: boolean;
}

/** The running server, unless the user pointed at a storage or data dir of their own. */
async function server(program: Command, o: Opts): Promise<HttpClient | null> {
  if (o.storage || o.dataDir) return null;
  return serverClient(clientOpts(program, o));
}

async function open(program: Command, o: Opts): Promise<{ storage: Storage; dataDir: string }> {
  const { config } = loadConfig({ path: program.opts().config });
  const dataDir = resolve(o.dataDir ?? config.data_dir);
  const storage = await createStorage(o.storage ?? config.storage.url, { dataDir });
  return { storage, dataDir };
}

export function register(program: Command): void {
  const cmd = program.command('audit').description('verify, anchor or replay the tamper-evident audit log');
  const common = (c: Command) =>
    c
      .option('--storage <url>', 'storage URL (default from config)')
      .option('--data-dir <dir>', 'data dir holding the anchor key and file (default from config)')
      .option(...URL_OPTION)
      .option('--json', 'machine-readable output');

  common(
    cmd
      .command('verify')
      .description('check every hash chain and every signed anchor; names the first bad entry'),
  ).action(async (o: Opts) => {
    const srv = await server(program, o);
    if (srv) {
      const r = await srv.request<AnchoredVerifyResult>('POST', '/audit/verify', { anchors: true });
      printVerify(r, o);
      return;
    }
    const { storage, dataDir } = await open(program, o);
    try {
      printVerify(await verifyWithAnchors(storage.audit, storage.driver, { dataDir }), o);
    } finally {
      await storage.driver.close();
    }
  });

  common(
    cmd.command('anchor').description('sign the current chain heads and append them to the anchor file now'),
  ).action(async (o: Opts) => {
    const srv = await server(program, o);
    if (srv) {
      const a = await srv.request<{ ts: string; keyId: string; heads: number; file: string }>(
        'POST',
        '/audit/anchor',
        {},
      );
      if (o.json) process.stdout.write(`${JSON.stringify(a)}\n`);
      else process.stdout.write(`anchored ${a.heads} stream heads to ${a.file} (key ${a.keyId})\n`);
      return;
    }
    const { storage, dataDir } = await open(program, o);
    try {
      const anchors = new AuditAnchors(storage.audit, { dataDir });
      const a = await anchors.anchor({ force: true });
      if (o.json) process.stdout.write(`${JSON.stringify(a)}\n`);
      else
        process.stdout.write(
          `anchored ${a?.heads.length ?? 0} stream heads to ${anchors.anchorFile} (key ${a?.keyId})\n`,
        );
    } finally {
      await storage.driver.close();
    }
  });

  common(
    cmd
      .command('replay')
      .description("show a process's actions, in order, from the audit log")
      .argument('<pid>', 'process id'),
  ).action(async (pidArg: string, o: Opts) => {
    const pid = parseId(pidArg);
    const srv = await server(program, o);
    if (srv) {
      printTimeline(
        pid,
        (await srv.request<{ items: TimelineEntry[] }>('GET', `/processes/${pid}/timeline`)).items,
        o,
      );
      return;
    }
    const { storage } = await open(program, o);
    try {
      printTimeline(pid, await processTimeline(storage.audit, pid), o);
    } finally {
      await storage.driver.close();
    }
  });
}

function printTimeline(pid: number, t: TimelineEntry[], o: Opts): void {
  if (o.json) process.stdout.write(`${JSON.stringify(t)}\n`);
  else if (t.length === 0) process.stdout.write(`no audit entries for pid ${pid}\n`);
  else
    for (const e of t)
      process.stdout.write(
        `${String(e.seq).padStart(5)}  ${e.ts}  ${e.kind.padEnd(18)} ${e.actor.padEnd(14)} ${e.summary}\n`,
      );
}

function printVerify(r: AnchoredVerifyResult, o: Opts): void {
  if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
  else if (r.ok) {
    process.stdout.write(
      `${style.green('ok')}: ${r.checked} entries chain-verified, ${r.anchors} signed anchors, ${r.anchoredHeads} anchored heads match\n`,
    );
    if (r.anchors === 0)
      process.stdout.write(
        `${style.yellow('note')}: no anchors yet — deleting the newest rows of a stream is only detectable against an anchor (run \`aos audit anchor\`)\n`,
      );
  } else {
    const b = r.firstBad;
    process.stdout.write(
      `${style.red('TAMPERED')}: first bad entry: stream ${b?.stream} seq ${b?.seq}${b?.id !== undefined ? ` (id ${b.id})` : ''}\n  ${b?.reason}\n`,
    );
  }
  process.exitCode = r.ok ? 0 : 3;
}
