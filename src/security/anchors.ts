/**
 * Signed anchors of the audit chain heads, kept outside the database. Every interval (and on demand) the
 * latest (stream, seq, hash) of every chain is signed with an Ed25519 key under the data dir (created on
 * first use, mode 0600) and appended as one JSON line to DATA_DIR/audit-anchors.jsonl. The hash chain alone
 * cannot see rows deleted from the end of a stream or a chain rewritten wholesale by someone with database
 * access; an anchor can. verifyWithAnchors() checks the chain, every anchor's signature, and every
 * anchored head against the database, and names the first bad entry.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { KernelError } from '../errors.js';
import * as P from '../param.js';
import type { Queryable } from '../storage/driver.js';
import { canonicalJson, sha256Hex } from '../util/canonical.js';
import { logger } from '../util/log.js';

const log = logger('audit.anchors');

/** What anchors need from the audit log (AuditLog satisfies it structurally). */
export interface AnchoredLog {
  heads(): Promise<Array<{ stream: string; seq: number; hash: string; n?: number }>>;
  /** Heads this process itself committed; a database behind them has lost rows and is not signed. */
  writtenHeads?(): Array<{ stream: string; seq: number; hash: string }>;
  verify(opts?: { stream?: string }): Promise<{
    ok: boolean;
    checked: number;
    firstBad?: { id: number; stream: string; seq: number; reason: string };
  }>;
}

export interface Anchor {
  v: 1;
  ts: string;
  keyId: string;
  /** Each stream's head and its length (n, rows in the stream): deleting any row changes one of them. */
  heads: Array<{ stream: string; seq: number; hash: string; n?: number }>;
  sig: string;
}

export interface AnchorOptions {
  dataDir: string;
  intervalMs?: number;
  anchorFile?: string;
  keyFile?: string;
}

export function loadOrCreateKey(keyFile: string): {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyId: string;
} {
  if (!existsSync(keyFile)) {
    mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    log.info(`created audit anchor signing key ${keyFile}`);
  }
  const mode = statSync(keyFile).mode & 0o777;
  if (mode & 0o077) {
    chmodSync(keyFile, 0o600);
    log.warn(`audit key ${keyFile} was readable by others (mode ${mode.toString(8)}); reset to 0600`);
  }
  const privateKey = createPrivateKey(readFileSync(keyFile));
  const publicKey = createPublicKey(privateKey);
  const keyId = sha256Hex(publicKey.export({ type: 'spki', format: 'der' })).slice(0, 16);
  return { privateKey, publicKey, keyId };
}

function signedBytes(a: Omit<Anchor, 'sig'>): Buffer {
  return Buffer.from(canonicalJson({ v: a.v, ts: a.ts, keyId: a.keyId, heads: a.heads }));
}

export class AuditAnchors {
  readonly anchorFile: string;
  readonly keyFile: string;
  private timer: NodeJS.Timeout | null = null;
  private key: ReturnType<typeof loadOrCreateKey> | null = null;
  private lastDigest = '';

  constructor(
    private readonly log: AnchoredLog,
    private readonly o: AnchorOptions,
  ) {
    this.anchorFile = resolve(o.anchorFile ?? join(o.dataDir, P.AUDIT_ANCHOR_FILE));
    this.keyFile = resolve(o.keyFile ?? join(o.dataDir, P.AUDIT_KEY_FILE));
  }

  private keys() {
    this.key ??= loadOrCreateKey(this.keyFile);
    return this.key;
  }

  /** Signs the current heads and appends the anchor (fsynced). Skips when nothing changed since the last. */
  async anchor(opts: { force?: boolean } = {}): Promise<Anchor | null> {
    const heads = (await this.log.heads()).sort((a, b) =>
      a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0,
    );
    const db = new Map(heads.map((h) => [h.stream, h]));
    const behind = this.log.writtenHeads?.().find((w) => (db.get(w.stream)?.seq ?? 0) < w.seq);
    if (behind) {
      // Signing now would vouch for a database that lost rows this kernel wrote.
      throw new KernelError(
        'EINTEGRITY',
        `not anchoring: stream ${behind.stream} ends before seq ${behind.seq}, which this kernel wrote (rows were deleted)`,
        { details: { stream: behind.stream, seq: behind.seq } },
      );
    }
    const digest = sha256Hex(canonicalJson(heads));
    if (!opts.force && digest === this.lastDigest) return null;
    const k = this.keys();
    const body: Omit<Anchor, 'sig'> = { v: 1, ts: new Date().toISOString(), keyId: k.keyId, heads };
    const anchor: Anchor = { ...body, sig: sign(null, signedBytes(body), k.privateKey).toString('base64') };
    mkdirSync(dirname(this.anchorFile), { recursive: true });
    appendFileSync(this.anchorFile, `${JSON.stringify(anchor)}\n`, { mode: 0o600 });
    const fd = openSync(this.anchorFile, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    this.lastDigest = digest;
    return anchor;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.anchor().catch((err: unknown) => log.error(`audit anchor failed: ${(err as Error).message}`));
    }, this.o.intervalMs ?? P.AUDIT_ANCHOR_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the interval and writes a final anchor. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.anchor();
  }
}

export interface AnchoredVerifyResult {
  ok: boolean;
  /** Rows whose hash chain was recomputed. */
  checked: number;
  anchors: number;
  /** Anchored heads compared against the database. */
  anchoredHeads: number;
  firstBad?: { stream: string; seq: number; id?: number; reason: string; source: 'chain' | 'anchor' };
}

export function readAnchors(
  file: string,
  publicKey: KeyObject | null,
): { anchors: Anchor[]; bad?: { line: number; reason: string } } {
  if (!existsSync(file)) return { anchors: [] };
  const lines = readFileSync(file, 'utf8').split('\n');
  const anchors: Anchor[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (!line.trim()) continue;
    let a: Anchor;
    try {
      a = JSON.parse(line) as Anchor;
    } catch {
      return { anchors, bad: { line: i + 1, reason: 'not valid JSON (the anchor file was edited)' } };
    }
    if (!publicKey)
      return { anchors, bad: { line: i + 1, reason: 'no signing key found to check the anchors with' } };
    const ok = verify(null, signedBytes(a), publicKey, Buffer.from(String(a.sig), 'base64'));
    if (!ok)
      return {
        anchors,
        bad: { line: i + 1, reason: 'signature does not verify (the anchor was forged or edited)' },
      };
    anchors.push(a);
  }
  return { anchors };
}

/**
 * Chain + anchors. `db` is used to look up anchored rows by (stream, seq). The first bad entry is named:
 * a chain break (edited, deleted, reordered row) first, else an anchored head that no longer matches.
 */
export async function verifyWithAnchors(
  log: AnchoredLog,
  db: Queryable,
  o: AnchorOptions,
): Promise<AnchoredVerifyResult> {
  const chain = await log.verify();
  const anchorFile = resolve(o.anchorFile ?? join(o.dataDir, P.AUDIT_ANCHOR_FILE));
  const keyFile = resolve(o.keyFile ?? join(o.dataDir, P.AUDIT_KEY_FILE));
  if (!chain.ok && chain.firstBad) {
    return {
      ok: false,
      checked: chain.checked,
      anchors: 0,
      anchoredHeads: 0,
      firstBad: { ...chain.firstBad, source: 'chain' },
    };
  }
  const publicKey = existsSync(keyFile) ? createPublicKey(createPrivateKey(readFileSync(keyFile))) : null;
  const { anchors, bad } = readAnchors(anchorFile, publicKey);
  if (bad) {
    return {
      ok: false,
      checked: chain.checked,
      anchors: anchors.length,
      anchoredHeads: 0,
      firstBad: {
        stream: anchorFile,
        seq: bad.line,
        reason: `anchor line ${bad.line}: ${bad.reason}`,
        source: 'anchor',
      },
    };
  }
  // The highest anchored seq per stream: the chain links everything before it.
  const latest = new Map<string, { seq: number; hash: string; ts: string; n?: number }>();
  for (const a of anchors) {
    for (const h of a.heads) {
      const cur = latest.get(h.stream);
      if (!cur || h.seq > cur.seq)
        latest.set(h.stream, {
          seq: h.seq,
          hash: h.hash,
          ts: a.ts,
          ...(h.n !== undefined ? { n: h.n } : {}),
        });
      else if (h.seq === cur.seq && h.hash !== cur.hash) {
        return {
          ok: false,
          checked: chain.checked,
          anchors: anchors.length,
          anchoredHeads: 0,
          firstBad: {
            stream: h.stream,
            seq: h.seq,
            reason: 'two anchors disagree about this row',
            source: 'anchor',
          },
        };
      }
    }
  }
  let firstBad: AnchoredVerifyResult['firstBad'];
  for (const [stream, h] of [...latest].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
    const { rows } = await db.query<{ id: unknown; hash: string }>(
      'SELECT id, hash FROM audit_log WHERE stream = $1 AND seq = $2',
      [stream, h.seq],
    );
    const row = rows[0];
    let problem = !row
      ? `row anchored at ${h.ts} is missing (rows deleted from the end of the stream, or the stream removed)`
      : row.hash !== h.hash
        ? `row differs from the hash anchored at ${h.ts} (the chain was rewritten)`
        : null;
    if (!problem && h.n !== undefined) {
      // The anchored length: rows up to the anchored head must all still be there.
      const c = await db.query<{ n: unknown }>(
        'SELECT count(*) AS n FROM audit_log WHERE stream = $1 AND seq <= $2',
        [stream, h.seq],
      );
      const n = Number(c.rows[0]?.n ?? 0);
      if (n !== h.n)
        problem = `the stream had ${h.n} rows up to seq ${h.seq} when anchored at ${h.ts}, now ${n} (rows deleted)`;
    }
    if (problem) {
      firstBad = {
        stream,
        seq: h.seq,
        ...(row ? { id: Number(row.id) } : {}),
        reason: problem,
        source: 'anchor',
      };
      break;
    }
  }
  return {
    ok: !firstBad,
    checked: chain.checked,
    anchors: anchors.length,
    anchoredHeads: latest.size,
    ...(firstBad ? { firstBad } : {}),
  };
}

/** Throws EINTEGRITY naming the first bad entry (for callers that want an exception). */
export function assertIntact(r: AnchoredVerifyResult): void {
  if (r.ok) return;
  const b = r.firstBad;
  throw new KernelError(
    'EINTEGRITY',
    `audit log verification failed at ${b?.stream} seq ${b?.seq}${b?.id !== undefined ? ` (id ${b.id})` : ''}: ${b?.reason}`,
    {
      details: { ...(b ?? {}) },
    },
  );
}
