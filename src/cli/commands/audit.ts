/**
 * `aos audit verify|anchor|replay`: check the hash chain and the signed anchors (naming the first bad
 * entry; exit code 3 on tampering), write an anchor now, or show a process's actions from the log.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { AuditAnchors, verifyWithAnchors } from '../../security/anchors.js';
import { processTimeline } from '../../security/replay.js';
import { createStorage, type Storage } from '../../storage/storage.js';
import { style } from '../format.js';

interface Opts {
  storage?: string;
  dataDir?: string;
  json?: boolean;
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
      .option('--json', 'machine-readable output');

  common(
    cmd
      .command('verify')
      .description('check every hash chain and every signed anchor; names the first bad entry'),
  ).action(async (o: Opts) => {
    const { storage, dataDir } = await open(program, o);
    try {
      const r = await verifyWithAnchors(storage.audit, storage.driver, { dataDir });
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
    } finally {
      await storage.driver.close();
    }
  });

  common(
    cmd.command('anchor').description('sign the current chain heads and append them to the anchor file now'),
  ).action(async (o: Opts) => {
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
  ).action(async (pid: string, o: Opts) => {
    const { storage } = await open(program, o);
    try {
      const t = await processTimeline(storage.audit, Number(pid));
      if (o.json) process.stdout.write(`${JSON.stringify(t)}\n`);
      else if (t.length === 0) process.stdout.write(`no audit entries for pid ${pid}\n`);
      else
        for (const e of t)
          process.stdout.write(
            `${String(e.seq).padStart(5)}  ${e.ts}  ${e.kind.padEnd(18)} ${e.actor.padEnd(14)} ${e.summary}\n`,
          );
    } finally {
      await storage.driver.close();
    }
  });
}
