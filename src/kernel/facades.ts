/**
 * What the edge (API, CLI, dashboard) may do with memory, the audit log and the mailbox: the kernel's
 * `memory`, `audit` and `mail` views (./kernel.ts), in the style of `procs`, `approvals` and `devices`.
 * The edge never holds a storage role or a driver. An operator's change to memory is an effect like any
 * other: it is written with an audit entry naming the caller (`actor`, e.g. `api:<token name>`) in the
 * `api` stream. Reads are plain reads.
 */
import { resolve } from 'node:path';
import { KernelError } from '../errors.js';
import { verifyWithAnchors } from '../security/anchors.js';
import { processTimeline, type TimelineEntry } from '../security/replay.js';
import type { AuditEntry } from '../storage/audit/audit-log.js';
import type { MemoryInput, MemoryRecord, MemorySearch, MemoryStore } from '../storage/memory/memory-store.js';
import type { KernelCore } from './core.js';

/** Who asks, when the edge changes something: shown as the audit entry's actor. */
export interface Actor {
  actor?: string;
}

const EDGE_STREAM = 'api';

export function memoryFacade(core: KernelCore) {
  const m = (): MemoryStore => core.storage.memory;
  const audited = (kind: string, actor: string | undefined, payload: unknown) =>
    core.storage.audit.append({ stream: EDGE_STREAM, kind, actor: actor ?? 'kernel', payload });
  return {
    /** The memory embedder (config `embeddings:`, else the lexical one). */
    get embedder() {
      return m().embedder;
    },
    list: (o: { owner: string; namespace?: string; limit?: number }) => m().list(o),
    get: (id: string) => m().get(id),
    search: (s: MemorySearch) => m().search(s),
    modelCounts: () => m().modelCounts(),
    async store(input: MemoryInput, o: Actor = {}): Promise<MemoryRecord> {
      const rec = await m().store(input);
      await audited('mem.store', o.actor, { id: rec.id, owner: rec.owner, chars: input.content.length });
      return rec;
    },
    /** Deletes one memory; ENOTFOUND when there is none. Returns what was deleted. */
    async delete(id: string, o: Actor = {}): Promise<MemoryRecord> {
      const rec = await m().get(id);
      if (!rec) throw new KernelError('ENOTFOUND', `no memory "${id}"`);
      await m().delete(id);
      await audited('mem.delete', o.actor, { id, owner: rec.owner });
      return rec;
    },
    async reembed(opts: { owner?: string }, o: Actor = {}) {
      const r = await m().reembed(opts);
      await audited('mem.reembed', o.actor, { ...opts, result: r });
      return r;
    },
  };
}

export function auditFacade(core: KernelCore) {
  const log = () => core.storage.audit;
  return {
    list: (o: { stream?: string; after?: number; limit?: number } = {}): Promise<AuditEntry[]> =>
      log().list(o),
    /** Recomputes the hash chains; with `anchors`, also checks the signed anchors outside the database. */
    async verify(o: { stream?: string; anchors?: boolean } = {}) {
      if (!o.anchors) return log().verify(o.stream ? { stream: o.stream } : {});
      if (o.stream) throw new KernelError('EINVAL', 'anchors: true checks every stream; leave "stream" out');
      return verifyWithAnchors(log(), core.storage.driver, { dataDir: resolve(core.config.data_dir) });
    },
    /** Signs the current chain heads now (ESTATE on memory://, which keeps no anchors). */
    async anchor() {
      const a = core.anchors;
      if (!a)
        throw new KernelError(
          'ESTATE',
          'this kernel keeps no anchors: its storage is memory://, whose chain is gone when it stops',
        );
      const r = await a.anchor({ force: true });
      if (!r) throw new KernelError('EBACKEND', 'the anchor was not written');
      return { ts: r.ts, keyId: r.keyId, heads: r.heads.length, file: a.anchorFile };
    },
    /** A process's actions in order, from its audit stream (what `aos audit replay` prints). */
    timeline: (pid: number): Promise<TimelineEntry[]> => processTimeline(log(), pid),
  };
}

export function mailFacade(core: KernelCore) {
  const box = () => core.storage.coordination;
  return {
    /** A process's mailbox, newest first (delivered messages included). */
    list: (pid: number, o: { limit?: number; offset?: number } = {}) => box().list(String(pid), o),
    /** Messages waiting for a process (not yet taken), oldest first. */
    waiting: (pid: number, o: { limit?: number; topic?: string } = {}) => box().peek(String(pid), o),
    /** Who wrote to whom (pids as strings, users as `user:<name>`), with undelivered counts. */
    edges: (o: { limit?: number } = {}) => box().edges(o),
  };
}

export type MemoryFacade = ReturnType<typeof memoryFacade>;
export type AuditFacade = ReturnType<typeof auditFacade>;
export type MailFacade = ReturnType<typeof mailFacade>;
