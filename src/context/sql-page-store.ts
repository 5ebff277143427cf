/**
 * SqlPageStore: the context manager's swap space in the kernel's `context_pages` table (migration 006),
 * on either storage driver. Embeddings go to `vector(256)` where pgvector exists, `real[]` otherwise.
 * Process ids are integers in this table (the kernel's pids).
 */
import { KernelError } from '../errors.js';
import type { StorageDriver } from '../storage/driver.js';
import { backendError, num, vectorParam, vectorType } from '../storage/sql.js';
import type { PageKind } from './page.js';
import type { PageStore, StoredPage } from './store.js';

function intPid(pid: number | string): number {
  const n = typeof pid === 'number' ? pid : Number(pid);
  if (!Number.isSafeInteger(n)) {
    throw new KernelError(
      'EINVAL',
      `SqlPageStore keys pages by integer pid; got "${String(pid)}" (use MemoryPageStore for string pids)`,
    );
  }
  return n;
}

interface Row {
  page_id: string;
  kind: string;
  content: string;
  summary: string;
  tokens: number | string;
  importance: number | string;
  meta: unknown;
}

export class SqlPageStore implements PageStore {
  readonly name: string;

  constructor(private readonly driver: StorageDriver) {
    this.name = `sql:${driver.kind}`;
  }

  async put(pid: number | string, pages: readonly StoredPage[]): Promise<void> {
    if (pages.length === 0) return;
    const p = intPid(pid);
    const vec = this.driver.capabilities.vector;
    const sql = `INSERT INTO context_pages (pid, page_id, kind, content, summary, tokens, importance, embedding, meta)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8::${vectorType(vec)}, $9::jsonb)
      ON CONFLICT (pid, page_id) DO UPDATE SET kind = EXCLUDED.kind, content = EXCLUDED.content,
        summary = EXCLUDED.summary, tokens = EXCLUDED.tokens, importance = EXCLUDED.importance,
        embedding = EXCLUDED.embedding, meta = EXCLUDED.meta`;
    try {
      const write = async (q: { query: StorageDriver['query'] }) => {
        for (const pg of pages) {
          await q.query(sql, [
            p,
            pg.pageId,
            pg.kind,
            pg.content.replace(/\u0000/g, ''),
            pg.summary,
            pg.tokens,
            pg.importance,
            pg.embedding ? vectorParam(Array.from(pg.embedding), vec) : null,
            JSON.stringify(pg.meta ?? {}),
          ]);
        }
      };
      if (pages.length === 1) await write(this.driver);
      else await this.driver.transaction(write);
    } catch (err) {
      throw err instanceof KernelError
        ? err
        : backendError(err, this.driver.location, 'context_pages insert');
    }
  }

  async get(pid: number | string, pageId: string): Promise<StoredPage | null> {
    const r = await this.driver.query<Row>(
      // The embedding stays in the table (the manager keeps its own copy in the page table): a page-in only
      // needs the text, and casting 256 floats to text would double the read.
      `SELECT page_id, kind, content, summary, tokens, importance, meta
         FROM context_pages WHERE pid = $1 AND page_id = $2`,
      [intPid(pid), pageId],
    );
    const row = r.rows[0];
    if (!row) return null;
    const meta = typeof row.meta === 'string' ? JSON.parse(row.meta) : (row.meta ?? {});
    return {
      pageId: row.page_id,
      kind: row.kind as PageKind,
      content: row.content,
      summary: row.summary,
      tokens: num(row.tokens),
      importance: num(row.importance),
      meta: meta as StoredPage['meta'],
    };
  }

  async deleteProcess(pid: number | string): Promise<void> {
    await this.driver.query('DELETE FROM context_pages WHERE pid = $1', [intPid(pid)]);
  }
}
