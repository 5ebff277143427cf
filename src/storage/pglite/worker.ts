/**
 * The PGlite worker thread (entry of ./worker-driver.ts): owns the WASM backend and runs every statement
 * through the prepared path of ./statements.ts, one message in and one out per statement. Units (a
 * statement, a whole transaction, a listen, a dump) run one at a time in arrival order: this queue is the
 * single-connection mutex, so statements sent back to back run without waiting for the caller's turn.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { PGlite } from '@electric-sql/pglite';
import { openBackend, type PgliteOptions } from './backend.js';
import { Statements } from './statements.js';
import type { Reply, Request } from './worker-protocol.js';
import { errorData } from './worker-protocol.js';

const port = parentPort!;
const opts = workerData as PgliteOptions & { location: string };

type Unit = () => Promise<void>;
const units: Unit[] = [];
let running = false;
/** Transaction id → its statements and end, in arrival order (they may arrive before the BEGIN runs). */
const txInbox = new Map<number, { queue: Request[]; wake: (() => void) | null }>();
const unlisten = new Map<number, () => Promise<void>>();

function reply(r: Reply, transfer?: ArrayBuffer[]): void {
  port.postMessage(r, transfer);
}

function enqueue(u: Unit): void {
  units.push(u);
  if (!running) void drain();
}

async function drain(): Promise<void> {
  running = true;
  while (units.length) await units.shift()!();
  running = false;
}

async function answer(id: number, fn: () => Promise<unknown>): Promise<void> {
  try {
    reply({ id, ok: true, value: await fn() });
  } catch (err) {
    reply({ id, ok: false, error: errorData(err) });
  }
}

function inbox(tx: number) {
  let box = txInbox.get(tx);
  if (!box) {
    box = { queue: [], wake: null };
    txInbox.set(tx, box);
  }
  return box;
}

async function nextOf(tx: number): Promise<Request> {
  const box = inbox(tx);
  while (!box.queue.length) {
    await new Promise<void>((r) => {
      box.wake = r;
    });
  }
  return box.queue.shift()!;
}

/** One transaction: PGlite's BEGIN/COMMIT (ROLLBACK on a rollback end), our statements in between. */
async function transaction(db: PGlite, st: Statements, begin: Extract<Request, { t: 'begin' }>) {
  const tx = begin.tx;
  let endId = -1;
  reply({ id: begin.id, ok: true, value: null }); // in the tx mutex from here: BEGIN runs with the first statement
  try {
    await db.transaction(async () => {
      for (;;) {
        const m = await nextOf(tx);
        if (m.t === 'end') {
          endId = m.id;
          if (!m.commit) throw ROLLBACK;
          return;
        }
        if (m.t === 'q') await answer(m.id, () => st.run(m.sql, m.params, true));
      }
    });
    reply({ id: endId, ok: true, value: null });
  } catch (err) {
    if (endId < 0) {
      // BEGIN or COMMIT itself failed before the end arrived: answer the end when it comes
      const m = await drainUntilEnd(tx, err);
      endId = m;
    }
    reply(
      err === ROLLBACK
        ? { id: endId, ok: true, value: null }
        : { id: endId, ok: false, error: errorData(err) },
    );
  } finally {
    txInbox.delete(tx);
  }
}

const ROLLBACK = Symbol('rollback');

async function drainUntilEnd(tx: number, err: unknown): Promise<number> {
  for (;;) {
    const m = await nextOf(tx);
    if (m.t === 'end') return m.id;
    reply({ id: m.id, ok: false, error: errorData(err) });
  }
}

async function main(): Promise<void> {
  let db: PGlite;
  let st: Statements;
  try {
    const b = await openBackend(opts, opts.location);
    db = b.db;
    st = new Statements(db as unknown as ConstructorParameters<typeof Statements>[0], b.protocol);
  } catch (err) {
    reply({ id: 0, ok: false, error: errorData(err) });
    return;
  }
  port.on('message', (m: Request) => {
    switch (m.t) {
      case 'q':
        if (m.tx !== undefined) {
          const box = inbox(m.tx);
          box.queue.push(m);
          box.wake?.();
          return;
        }
        enqueue(() => answer(m.id, () => st.run(m.sql, m.params, false)));
        return;
      case 'begin':
        enqueue(() => transaction(db, st, m));
        return;
      case 'end': {
        const box = inbox(m.tx);
        box.queue.push(m);
        box.wake?.();
        return;
      }
      case 'listen':
        enqueue(() =>
          answer(m.id, async () => {
            const unsub = await db.listen(m.channel, (payload) =>
              reply({ id: -1, channel: m.channel, payload }),
            );
            unlisten.set(m.id, unsub);
            return null;
          }),
        );
        return;
      case 'unlisten':
        enqueue(() =>
          answer(m.id, async () => {
            await unlisten.get(m.listen)?.();
            unlisten.delete(m.listen);
            return null;
          }),
        );
        return;
      case 'dump':
        enqueue(async () => {
          try {
            const buf = await ((await db.dumpDataDir('none')) as Blob).arrayBuffer();
            reply({ id: m.id, ok: true, value: buf }, [buf]);
          } catch (err) {
            reply({ id: m.id, ok: false, error: errorData(err) });
          }
        });
        return;
      case 'close':
        enqueue(async () => {
          await answer(m.id, () => db.close());
          port.close();
        });
        return;
    }
  });
  reply({ id: 0, ok: true, value: null });
}

void main();
