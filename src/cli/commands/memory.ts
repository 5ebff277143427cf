/**
 * `aos memory status|reembed`: which embedder memory search uses and how many memories each model's
 * vectors hold; re-embed the ones another model made (after `embeddings:` changed) with the configured one.
 * With a server running they go through its API (GET /memory/embeddings, POST /memory/reembed), because
 * the server holds the storage lock; without one (or with --storage) they open storage directly.
 */
import type { Command } from 'commander';
import { loadConfig } from '../../config/load.js';
import { embedderInfo, memoryEmbedder } from '../../kernel/embeddings.js';
import { createStorage, type Storage } from '../../storage/storage.js';
import { type HttpClient, serverClient } from '../client.js';
import { style } from '../format.js';
import { clientOpts, URL_OPTION } from './server-options.js';

interface Opts {
  storage?: string;
  url?: string;
  owner?: string;
  json?: boolean;
}

interface Status {
  embedder: { model: string; kind: string };
  models: Array<{ model: string | null; count: number }>;
  stale: number;
}

async function server(program: Command, o: Opts): Promise<HttpClient | null> {
  if (o.storage) return null;
  return serverClient(clientOpts(program, o));
}

async function open(program: Command, o: Opts): Promise<Storage> {
  const { config, file } = loadConfig({ path: program.opts().config });
  return createStorage(o.storage ?? config.storage.url, {
    dataDir: config.data_dir,
    embedder: memoryEmbedder(config, file),
  });
}

async function statusOf(s: Storage): Promise<Status> {
  const e = embedderInfo(s.memory.embedder);
  const models = await s.memory.modelCounts();
  const stale = models.filter((c) => c.model !== e.model).reduce((n, c) => n + c.count, 0);
  return { embedder: { model: e.model, kind: e.kind }, models, stale };
}

export function register(program: Command): void {
  const cmd = program.command('memory').description("the memory embedder; re-embed another model's vectors");
  const common = (c: Command) =>
    c
      .option('--storage <url>', 'open this storage directly (default: the running server, else config)')
      .option(...URL_OPTION)
      .option('--json', 'machine-readable output');

  common(cmd.command('status').description('the embedder and the memories per embedding model')).action(
    async (o: Opts) => {
      const srv = await server(program, o);
      let st: Status;
      if (srv) st = await srv.request<Status>('GET', '/memory/embeddings');
      else {
        const s = await open(program, o);
        try {
          st = await statusOf(s);
        } finally {
          await s.close();
        }
      }
      if (o.json) return void process.stdout.write(`${JSON.stringify(st)}\n`);
      const kind =
        st.embedder.kind === 'lexical'
          ? style.yellow('lexical: words, not meanings (set embeddings: in config.yaml)')
          : st.embedder.kind;
      process.stdout.write(`embedder  ${st.embedder.model} (${kind})\n`);
      for (const m of st.models)
        process.stdout.write(`  ${String(m.count).padStart(8)}  ${m.model ?? '(no vector)'}\n`);
      if (st.stale)
        process.stdout.write(
          `${style.yellow(`${st.stale} memories were embedded by another model`)}: run \`aos memory reembed\`\n`,
        );
    },
  );

  common(
    cmd
      .command('reembed')
      .description("re-embed every memory another model's vectors hold with the configured embedder")
      .option('--owner <owner>', 'only this owner'),
  ).action(async (o: Opts) => {
    const srv = await server(program, o);
    let r: { reembedded: number; model: string };
    if (srv) r = await srv.request('POST', '/memory/reembed', o.owner ? { owner: o.owner } : {});
    else {
      const s = await open(program, o);
      try {
        r = await s.memory.reembed({
          ...(o.owner ? { owner: o.owner } : {}),
          onProgress: (done, total) => {
            if (!o.json && process.stderr.isTTY) process.stderr.write(`\r${done}/${total}`);
          },
        });
        if (!o.json && process.stderr.isTTY) process.stderr.write('\n');
      } finally {
        await s.close();
      }
    }
    if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else process.stdout.write(`re-embedded ${r.reembedded} memories with ${r.model}\n`);
  });
}
