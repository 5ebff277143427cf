/**
 * The api_tokens table (migration 008): bearer tokens with three roles (viewer < operator < admin). Only a
 * token's SHA-256 is stored; the secret is returned once at creation. src/api/auth.ts authenticates
 * requests with it; nothing outside this file writes SQL against api_tokens.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { KernelError } from '../../errors.js';
import { API_TOKEN_CACHE_MS, API_TOKEN_USED_FLUSH_MS } from '../../param.js';
import { sha256Hex } from '../../util/canonical.js';
import type { StorageDriver } from '../driver.js';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Who made a request: a token's identity, or `anonymous` on the open routes. */
export interface Principal {
  id: string;
  name: string;
  role: Role;
  /** Gateway keys belong to a tenant: they see and touch only that tenant's sessions (null: kernel-wide). */
  tenant?: string | null;
}

export interface TokenInfo extends Principal {
  createdAt: Date;
  createdBy: string | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

export function newTokenSecret(): string {
  return `aos_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return sha256Hex(token);
}

type Row = Record<string, unknown>;

function toInfo(r: Row): TokenInfo {
  return {
    id: String(r.id),
    name: String(r.name),
    role: String(r.role) as Role,
    createdAt: r.created_at as Date,
    createdBy: (r.created_by as string | null) ?? null,
    lastUsedAt: (r.last_used_at as Date | null) ?? null,
    revokedAt: (r.revoked_at as Date | null) ?? null,
    tenant: (r.tenant as string | null) ?? null,
  };
}

export class TokenStore {
  /** hash → principal and when it was verified; revocation on this node clears it at once. */
  private readonly cache = new Map<string, { p: Principal; at: number }>();
  /** Reads in flight, by token hash (concurrent requests with one token share one). */
  private readonly lookups = new Map<string, Promise<Principal | null>>();
  /** Bumped by revoke(): a read that started before it must not cache its answer. */
  private epoch = 0;
  /** Token id → the last time it was used, not yet written (flushUsed). */
  private readonly used = new Map<string, number>();
  private flushTimer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly driver: StorageDriver) {}

  /** Creates a token; the secret is returned once and never stored. */
  async create(o: {
    name: string;
    role: Role;
    createdBy?: string | null;
    tenant?: string | null;
  }): Promise<{ token: string; info: TokenInfo }> {
    if (!ROLES.includes(o.role))
      throw new KernelError('EINVAL', `role must be one of ${ROLES.join(', ')}, got "${o.role}"`);
    if (o.tenant != null && !/^[a-zA-Z0-9_.-]{1,64}$/.test(o.tenant))
      throw new KernelError(
        'EINVAL',
        `tenant must be 1–64 letters, digits, '_', '.' or '-', got "${o.tenant}"`,
      );
    const token = newTokenSecret();
    const { rows } = await this.driver.query<Row>(
      'INSERT INTO api_tokens (id, name, role, token_hash, created_by, tenant) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
      [
        `tok_${randomUUID().slice(0, 8)}`,
        o.name,
        o.role,
        hashToken(token),
        o.createdBy ?? null,
        o.tenant ?? null,
      ],
    );
    return { token, info: toInfo(rows[0]!) };
  }

  /** Registers an existing secret (only its hash), e.g. the token file another kernel wrote. */
  async adopt(token: string, o: { name: string; role: Role; createdBy?: string | null }): Promise<TokenInfo> {
    const { rows } = await this.driver.query<Row>(
      'INSERT INTO api_tokens (id, name, role, token_hash, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING *',
      [`tok_${randomUUID().slice(0, 8)}`, o.name, o.role, hashToken(token), o.createdBy ?? null],
    );
    return toInfo(rows[0]!);
  }

  /** Whether this database has ever issued `token` (active, revoked, any role). */
  async knows(token: string): Promise<boolean> {
    const { rows } = await this.driver.query<Row>('SELECT 1 FROM api_tokens WHERE token_hash = $1', [
      hashToken(token),
    ]);
    return rows.length > 0;
  }

  async list(): Promise<TokenInfo[]> {
    await this.flushUsed();
    const { rows } = await this.driver.query<Row>('SELECT * FROM api_tokens ORDER BY created_at, id');
    return rows.map(toInfo);
  }

  async revoke(id: string): Promise<TokenInfo> {
    const { rows } = await this.driver.query<Row>(
      'UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING *',
      [id],
    );
    if (!rows[0]) throw new KernelError('ENOTFOUND', `no token ${id}; GET /api/v1/tokens lists them`);
    this.cache.clear();
    this.epoch++;
    return toInfo(rows[0]);
  }

  async hasActiveAdmin(): Promise<boolean> {
    const { rows } = await this.driver.query<Row>(
      "SELECT 1 FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL LIMIT 1",
    );
    return rows.length > 0;
  }

  /**
   * The principal of a presented token, or null when it is unknown or revoked. A request never waits for a
   * write: a verified token is served from the cache for API_TOKEN_CACHE_MS and looked up again in the
   * background once half of that has passed (so a steadily used token is never looked up on a request's
   * path, and a revocation on another node is seen within API_TOKEN_CACHE_MS as before); concurrent
   * lookups of one token share one read; `last_used_at` is written in batches (API_TOKEN_USED_FLUSH_MS).
   */
  async verify(token: string): Promise<Principal | null> {
    if (!token.startsWith('aos_')) return null;
    const h = hashToken(token);
    const hit = this.cache.get(h);
    const now = Date.now();
    if (hit && now - hit.at < API_TOKEN_CACHE_MS) {
      if (now - hit.at >= API_TOKEN_CACHE_MS / 2 && !this.lookups.has(h))
        this.lookup(h).catch(() => undefined); // refreshed ahead; a failed refresh expires as before
      this.noteUsed(hit.p.id, now);
      return hit.p;
    }
    const p = await this.lookup(h);
    if (p) this.noteUsed(p.id, Date.now());
    return p;
  }

  /** One read per token at a time: the row, into the cache (or out of it, when revoked or unknown). */
  private lookup(h: string): Promise<Principal | null> {
    const running = this.lookups.get(h);
    if (running) return running;
    const p: Promise<Principal | null> = this.read(h).finally(() => {
      if (this.lookups.get(h) === p) this.lookups.delete(h);
    });
    this.lookups.set(h, p);
    return p;
  }

  private async read(h: string): Promise<Principal | null> {
    for (;;) {
      const epoch = this.epoch;
      const { rows } = await this.driver.query<Row>(
        'SELECT id, name, role, token_hash, tenant FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL',
        [h],
      );
      if (epoch !== this.epoch) continue; // a revocation on this node while it read: read again
      const r = rows[0];
      // The lookup is by hash; the compare is constant-time anyway, for defence in depth.
      if (!r || !timingSafeEqual(Buffer.from(String(r.token_hash)), Buffer.from(h))) {
        this.cache.delete(h);
        return null;
      }
      const p: Principal = {
        id: String(r.id),
        name: String(r.name),
        role: String(r.role) as Role,
        tenant: (r.tenant as string | null) ?? null,
      };
      this.cache.set(h, { p, at: Date.now() });
      return p;
    }
  }

  private noteUsed(id: string, at: number): void {
    this.used.set(id, at);
    if (this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flushUsed().catch(() => undefined);
    }, API_TOKEN_USED_FLUSH_MS);
    this.flushTimer.unref();
  }

  /**
   * Writes the pending last-used times (one statement per token used since the last write); resolves once
   * every earlier write is stored too (a listing right after a timed write sees it).
   */
  flushUsed(): Promise<void> {
    const run = this.flushing.then(() => this.writeUsed());
    this.flushing = run.catch(() => undefined);
    return run;
  }

  private async writeUsed(): Promise<void> {
    if (!this.used.size) return;
    const batch = [...this.used];
    this.used.clear();
    for (const [id, at] of batch)
      await this.driver.query(
        `UPDATE api_tokens SET last_used_at = greatest(coalesce(last_used_at, to_timestamp(0)), to_timestamp($2::double precision / 1000))
          WHERE id = $1`,
        [id, at],
      );
  }

  /** Stops the batched writes, writing what is pending (the server calls this before the kernel stops). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.flushUsed().catch(() => undefined);
  }
}
