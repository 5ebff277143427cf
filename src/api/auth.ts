/**
 * API authentication: bearer tokens with three roles (viewer < operator < admin). Tokens are random
 * (`aos_` + 32 bytes base64url, so src/util/redact.ts masks them anywhere they leak into text); only their
 * SHA-256 is stored (table api_tokens, migration 008). On first start, when no admin token exists, one is
 * created and written to `<data_dir>/admin.token` with mode 0600 — it is never logged or printed.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TokenStore } from '../storage/tokens/token-store.js';
import { logger } from '../util/log.js';
import { HttpError } from './errors.js';

const log = logger('api.auth');
/** What newTokenSecret() makes: `aos_` + 32 random bytes in base64url. */
const TOKEN_SHAPE = /^aos_[A-Za-z0-9_-]{43}$/;

export {
  hashToken,
  newTokenSecret,
  type Principal,
  ROLES,
  type Role,
  roleAllows,
  type TokenInfo,
  TokenStore,
} from '../storage/tokens/token-store.js';

/**
 * First start: make sure `file` holds an admin token this database accepts, without ever clobbering
 * another kernel's. Cases, in order:
 * - the file's token is an active admin here: keep it;
 * - this database revoked it (or it is no admin): the owner said so, write a fresh one;
 * - this database has never seen it (a second kernel on `memory://` or another database in the same data
 *   dir) and has no active admin yet: adopt it — both kernels now accept the one token, the file is untouched;
 * - never seen, but this database has its own admins: leave the file alone and warn (delete the file and
 *   restart to get a new one).
 * Returns whether a token was written; the token itself never leaves this function except into the file.
 */
export async function ensureAdminToken(store: TokenStore, file: string): Promise<boolean> {
  if (existsSync(file)) {
    const heldToken = readFileSync(file, 'utf8').trim();
    const held = await store.verify(heldToken);
    if (held?.role === 'admin') return false;
    if (!(await store.knows(heldToken)) && TOKEN_SHAPE.test(heldToken)) {
      if (!(await store.hasActiveAdmin())) {
        await store.adopt(heldToken, { name: 'admin (token file)', role: 'admin', createdBy: 'kernel' });
        return false;
      }
      log.warn(
        `${file} holds a token this database does not know (another kernel's?); it was left as it is. Delete it and restart to get a new admin token for this database`,
      );
      return false;
    }
  }
  const { token } = await store.create({ name: 'admin (first start)', role: 'admin', createdBy: 'kernel' });
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  chmodSync(file, 0o600); // an existing file keeps its old mode under writeFileSync
  return true;
}

/** The bearer token of a request: `Authorization: Bearer …`, or `?token=` where headers cannot be set (SSE). */
export function presentedToken(
  headers: Record<string, unknown>,
  query: unknown,
  allowQuery: boolean,
): string | null {
  const h = headers.authorization;
  if (typeof h === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
    if (!m)
      throw new HttpError(
        401,
        'EAUTH',
        'malformed Authorization header; send "Authorization: Bearer <token>"',
      );
    return m[1]!;
  }
  if (allowQuery && query && typeof query === 'object') {
    const t = (query as Record<string, unknown>).token;
    if (typeof t === 'string' && t) return t;
  }
  return null;
}
