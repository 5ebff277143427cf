/**
 * The ordered migration list and the runner. All pending migrations apply in ONE transaction that first
 * takes pg_advisory_xact_lock(MIGRATION_LOCK_KEY), so two nodes booting at once cannot both migrate. An
 * applied migration whose checksum changed is refused: the schema on disk no longer matches the code.
 */
import { KernelError } from '../../errors.js';
import { MIGRATION_LOCK_KEY } from '../../param.js';
import { canonicalJson, sha256Hex } from '../../util/canonical.js';
import { logger } from '../../util/log.js';
import type { StorageDriver } from '../driver.js';
import { num } from '../sql.js';
import { m001State } from './001_state.js';
import { m002Audit } from './002_audit.js';
import { m003Coordination } from './003_coordination.js';
import { m004Memory } from './004_memory.js';
import { m005Vectors } from './005_vectors.js';
import { m006Pages } from './006_pages.js';
import { m007ToolCalls } from './007_tool_calls.js';
import { m008ApiTokens } from './008_api_tokens.js';
import { m009Gateway } from './009_gateway.js';
import { m010Durability } from './010_durability.js';
import { m011Nodes } from './011_nodes.js';
import { m012EmbeddingModels } from './012_embedding_models.js';
import { m013MemoryTextIndex } from './013_memory_text_index.js';
import { m014Cluster } from './014_cluster.js';
import { m015MemoryRev } from './015_memory_rev.js';
import { m016Budgets } from './016_budgets.js';
import { m017StateDeltas } from './017_state_deltas.js';
import { m018ClaimOwnerIndex } from './018_claim_owner_index.js';
import { m019BudgetLimits } from './019_budget_limits.js';
import { m020GatewayResponses } from './020_gateway_responses.js';
import type { Migration } from './migration.js';

export type { Migration } from './migration.js';

const log = logger('storage.migrate');

export const MIGRATIONS: readonly Migration[] = [
  m001State,
  m002Audit,
  m003Coordination,
  m004Memory,
  m005Vectors,
  m006Pages,
  m007ToolCalls,
  m008ApiTokens,
  m009Gateway,
  m010Durability,
  m011Nodes,
  m012EmbeddingModels,
  m013MemoryTextIndex,
  m014Cluster,
  m015MemoryRev,
  m016Budgets,
  m017StateDeltas,
  m018ClaimOwnerIndex,
  m019BudgetLimits,
  m020GatewayResponses,
];

/** Over both capability variants, so a server that later gains pgvector does not look "changed". */
export function migrationChecksum(m: Migration): string {
  return sha256Hex(
    canonicalJson({ v: m.version, n: m.name, a: m.up({ vector: true }), b: m.up({ vector: false }) }),
  );
}

export interface MigrateResult {
  applied: Array<{ version: number; name: string }>;
  current: number;
}

export async function migrate(
  driver: StorageDriver,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrateResult> {
  checkOrder(migrations);
  return driver.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS aos_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await tx.query<{ version: number; name: string; checksum: string }>(
      'SELECT version, name, checksum FROM aos_migrations ORDER BY version',
    );
    const applied = new Map(rows.map((r) => [num(r.version), r]));
    const known = new Set(migrations.map((m) => m.version));
    for (const r of rows) {
      if (!known.has(num(r.version))) {
        throw new KernelError(
          'EBACKEND',
          `database at ${driver.location} (schema ${driver.schema}) has migration ${r.version} "${r.name}" that this ` +
            `version of agent-os-kernel does not know: it was migrated by a newer kernel. Upgrade this kernel.`,
          { details: { version: num(r.version), name: r.name } },
        );
      }
    }
    const done: MigrateResult['applied'] = [];
    for (const m of migrations) {
      const sum = migrationChecksum(m);
      const prior = applied.get(m.version);
      if (prior) {
        if (prior.checksum !== sum) {
          throw new KernelError(
            'EINTEGRITY',
            `migration ${m.version} "${m.name}" was applied to ${driver.location} (schema ${driver.schema}) with a ` +
              `different checksum: the migration was edited after it ran. Never edit an applied migration; ` +
              `add a new one instead.`,
            { details: { version: m.version, expected: sum, found: prior.checksum } },
          );
        }
        continue;
      }
      for (const stmt of m.up(driver.capabilities)) await tx.query(stmt);
      await tx.query('INSERT INTO aos_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        sum,
      ]);
      done.push({ version: m.version, name: m.name });
    }
    if (done.length)
      log.info(`applied ${done.length} migration(s)`, { location: driver.location, schema: driver.schema });
    return { applied: done, current: migrations.at(-1)?.version ?? 0 };
  });
}

function checkOrder(migrations: readonly Migration[]): void {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new KernelError(
        'EINVAL',
        `migration list is out of order: position ${i + 1} holds version ${m.version}`,
      );
    }
  });
}
