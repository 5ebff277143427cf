/**
 * The swap space seam. A PageStore keeps the full text of pages that left the window (evicted pages and
 * the full text behind head+tail views), keyed by (pid, page id). `MemoryPageStore` is here; the SQL store
 * over the kernel's `context_pages` table is ./sql-store.ts.
 */
import type { ToolCall } from '../llm/model.js';
import type { PageKind } from './page.js';

export interface StoredPage {
  pageId: string;
  kind: PageKind;
  /** Full text of the page (not the head+tail view). */
  content: string;
  summary: string;
  tokens: number;
  importance: number;
  embedding?: readonly number[] | Float32Array;
  /** Tool calls, tool call id, tool name and anything else the manager needs to restore the page. */
  meta: { toolCalls?: ToolCall[]; toolCallId?: string; name?: string; [k: string]: unknown };
}

export interface PageStore {
  readonly name: string;
  /** Inserts or replaces pages of one process (idempotent: a page may be written again after a restore). */
  put(pid: number | string, pages: readonly StoredPage[]): Promise<void>;
  get(pid: number | string, pageId: string): Promise<StoredPage | null>;
  /** Forgets every page of a process (its swap space) when the process is reaped. */
  deleteProcess(pid: number | string): Promise<void>;
}

/** A store in this process's memory: the default, and the test double. Lost when the process exits. */
export class MemoryPageStore implements PageStore {
  readonly name = 'memory';
  private readonly pages = new Map<string, Map<string, StoredPage>>();

  async put(pid: number | string, pages: readonly StoredPage[]): Promise<void> {
    const key = String(pid);
    let m = this.pages.get(key);
    if (!m) {
      m = new Map();
      this.pages.set(key, m);
    }
    for (const p of pages) m.set(p.pageId, { ...p, meta: { ...p.meta } });
  }

  async get(pid: number | string, pageId: string): Promise<StoredPage | null> {
    const p = this.pages.get(String(pid))?.get(pageId);
    return p ? { ...p, meta: { ...p.meta } } : null;
  }

  async deleteProcess(pid: number | string): Promise<void> {
    this.pages.delete(String(pid));
  }

  /** Pages held for a process (tests and metrics). */
  size(pid: number | string): number {
    return this.pages.get(String(pid))?.size ?? 0;
  }
}
