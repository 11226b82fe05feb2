/**
 * Row authorization as a whole (ROW_AUTHORIZATION=postgres), built from the configuration: the
 * pool, the catalog of table access, the policy evaluator and the authorizer that the channel
 * registry and the join handler use. Also the start-up warnings that go with the setting.
 */
import type { Logger } from '@walcast/logger';
import type { GatewayConfig, RowAuthConfig } from '../config';
import type { GatewayMetrics } from '../metrics';
import { createRowAuthPool } from './pg-pool';
import { PolicyEvaluator, type Verdict } from './policy-evaluator';
import type { ConnectionPool } from './queryable';
import { RowAuthorizer, type CompiledPolicies } from './row-authorizer';
import { TableAccessCatalog, type TableAccess } from './table-access';

export interface RowAuthorizationOptions {
  config: RowAuthConfig;
  metrics: GatewayMetrics;
  log: Logger;
  /** Compiles a table's policies for in-memory evaluation (null: ask PostgreSQL). */
  compile?(access: TableAccess): CompiledPolicies | null;
  /** For tests: a pool instead of one made from the configuration. */
  pool?: ConnectionPool;
}

const verdictLabel = (v: Verdict): 'visible' | 'hidden' | 'error' =>
  v === true ? 'visible' : v === false ? 'hidden' : 'error';

export class RowAuthorization {
  readonly catalog: TableAccessCatalog;
  readonly authorizer: RowAuthorizer;
  private readonly pool: ConnectionPool;

  constructor(opts: RowAuthorizationOptions) {
    const { config, metrics, log } = opts;
    this.pool = opts.pool ?? createRowAuthPool(config, log);
    this.catalog = new TableAccessCatalog({ db: this.pool, refreshMs: config.refreshMs, log });
    const evaluator = new PolicyEvaluator({
      pool: this.pool,
      maxConcurrent: config.poolSize,
      log,
      onBatch: (_rows, seconds) => metrics.rowAuthBatchSeconds.observe(seconds),
    });
    this.authorizer = new RowAuthorizer({
      catalog: this.catalog,
      evaluator,
      ...(opts.compile ? { compile: opts.compile } : {}),
      onVerdict: (path, verdict) => metrics.rowAuthVerdicts.inc({ path, verdict: verdictLabel(verdict) }),
    });
  }

  start(): void {
    this.catalog.start();
  }

  async stop(): Promise<void> {
    this.catalog.stop();
    await this.pool.end();
  }
}

/** Published tables with row-level security enabled (for the warning when rows are not authorized). */
const RLS_TABLES_SQL = `
select distinct pt.schemaname as schema, pt.tablename as table
from pg_publication_tables pt
join pg_namespace n on n.nspname = pt.schemaname
join pg_class c on c.relnamespace = n.oid and c.relname = pt.tablename
where c.relrowsecurity
order by 1, 2
limit 20`;

/**
 * Says at start what rows channels receive when they are not authorized by PostgreSQL: with
 * ROW_AUTHORIZATION=off on secure channels, every row; with channels open, the published tables
 * that have row-level security (when a database is configured to look them up). Never throws.
 */
export async function warnUnauthorizedRows(config: GatewayConfig, log: Logger): Promise<void> {
  if (config.rowAuth) {
    log.info({ database: config.rowAuth.target }, 'row authorization: postgres');
    return;
  }
  if (config.auth.isSecure) {
    log.warn(
      { code: 'RowAuthorizationOff' },
      'ROW_AUTHORIZATION=off: every authorized channel receives every row of every published table, whatever its row-level security policies and column privileges',
    );
    return;
  }
  if (!config.database) return;
  const pool = createRowAuthPool(
    { connection: config.database.connection, poolSize: 1, checkTimeoutMs: 5_000 },
    log,
  );
  try {
    const { rows } = await pool.query<{ schema: string; table: string }>(RLS_TABLES_SQL);
    if (rows.length > 0) {
      log.warn(
        { tables: rows.map((r) => `${r.schema}.${r.table}`), code: 'RowAuthorizationOff' },
        'channels are open (SECURE_CHANNELS=false): published tables with row-level security are streamed to every client without their policies',
      );
    }
  } catch (err) {
    log.debug({ err }, 'could not look for published tables with row-level security');
  } finally {
    await pool.end().catch(() => undefined);
  }
}
