/**
 * Row authorization as a whole (ROW_AUTHORIZATION=postgres), built from the configuration: the
 * pool, the catalog of table access, the policy evaluator and the authorizer that the channel
 * registry and the join handler use. Also the start-up warnings that go with the setting.
 */
import type { Logger } from '@walcast/logger';
import type { GatewayConfig, RowAuthConfig } from '../config';
import type { GatewayMetrics } from '../metrics';
import { createRowAuthPool } from './pg-pool';
import { ChannelAuthorizer } from './channel-authorizer';
import { MessageReplay } from './message-replay';
import { PolicyEvaluator, type Verdict } from './policy-evaluator';
import type { ConnectionPool } from './queryable';
import {
  AUTH_FUNCTIONS_QUERY,
  authFunctionsFromRows,
  type AuthFunctionRow,
  type AuthFunctions,
} from './auth-functions';
import { compilePolicySetExplained } from './policy-compiler';
import { RowAuthorizer, type CompiledPolicies } from './row-authorizer';
import { TableAccessCatalog, type TableAccess } from './table-access';

export interface RowAuthorizationOptions {
  config: RowAuthConfig;
  metrics: GatewayMetrics;
  log: Logger;
  /** For tests: a pool instead of one made from the configuration. */
  pool?: ConnectionPool;
}

/**
 * Whether compiled predicates may stand in for PostgreSQL on this database: `auth` is not on the
 * search path the policies were printed with (they would print `uid()` unqualified), and no
 * database or role setting gives `request.jwt.claim` or `request.jwt.claim.email` a value the
 * database path does not set (Supabase's `auth.jwt()` and `auth.email()` read them).
 */
const COMPILE_PRECONDITIONS_SQL = `
select current_setting('search_path') !~ '(^|[ ,"])auth([ ,"]|$)'
  and not exists (select 1 from pg_db_role_setting s, unnest(s.setconfig) c
                  where c like 'request.jwt.claim=%' or c like 'request.jwt.claim.email=%') as ok`;

const verdictLabel = (v: Verdict): 'visible' | 'hidden' | 'error' =>
  v === true ? 'visible' : v === false ? 'hidden' : 'error';

export class RowAuthorization {
  readonly catalog: TableAccessCatalog;
  readonly authorizer: RowAuthorizer;
  /** Private channels: policies on realtime.messages, by the probe-row method. */
  readonly channels: ChannelAuthorizer;
  /** Replay of stored broadcasts on private channels. */
  readonly replay: MessageReplay;
  private readonly pool: ConnectionPool;
  /** What auth.uid() and the other helpers are on this database; null until read (or unusable). */
  private authFunctions: AuthFunctions | null = null;
  /** Changes when `authFunctions` does: compiled predicates are made again. */
  private compilerVersion = 0;
  private readonly log: Logger;
  private readonly notCompiled = new WeakSet<TableAccess>();
  private authTimer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: RowAuthorizationOptions) {
    const { config, metrics, log } = opts;
    this.log = log;
    this.pool = opts.pool ?? createRowAuthPool(config, log);
    this.catalog = new TableAccessCatalog({ db: this.pool, refreshMs: config.refreshMs, log });
    const evaluator = new PolicyEvaluator({
      pool: this.pool,
      maxConcurrent: config.poolSize,
      log,
      onBatch: (_rows, seconds) => metrics.rowAuthBatchSeconds.observe(seconds),
    });
    this.replay = new MessageReplay(this.pool);
    this.channels = new ChannelAuthorizer({
      pool: this.pool,
      timeoutMs: config.checkTimeoutMs,
      log,
      onCheck: (check, outcome, seconds) =>
        metrics.channelAuthCheckSeconds.observe({ check, outcome }, seconds),
    });
    this.authorizer = new RowAuthorizer({
      catalog: this.catalog,
      evaluator,
      compile: (access) => this.compile(access),
      compilerVersion: () => this.compilerVersion,
      onVerdict: (path, verdict) => metrics.rowAuthVerdicts.inc({ path, verdict: verdictLabel(verdict) }),
    });
  }

  /** Starts the catalog's refreshes, and reads the auth helpers now and with every refresh. */
  start(): void {
    this.catalog.start();
    void this.readAuthFunctions();
    this.authTimer = setInterval(() => void this.readAuthFunctions(), this.opts.config.refreshMs);
    this.authTimer.unref();
  }

  /** Reads what the auth helpers are (never throws: on failure the last reading stays). */
  private async readAuthFunctions(): Promise<void> {
    try {
      const [{ rows }, pre] = await Promise.all([
        this.pool.query<AuthFunctionRow>(AUTH_FUNCTIONS_QUERY),
        this.pool.query<{ ok: boolean }>(COMPILE_PRECONDITIONS_SQL),
      ]);
      const next = pre.rows[0]?.ok ? authFunctionsFromRows(rows) : null;
      if (JSON.stringify(next) !== JSON.stringify(this.authFunctions)) {
        this.authFunctions = next;
        this.compilerVersion++;
      }
    } catch (err) {
      this.log.debug({ err }, 'could not read the auth helpers; keeping the last reading');
    }
  }

  /** The table's policies as an in-memory predicate, or null (PostgreSQL evaluates them). */
  private compile(access: TableAccess): CompiledPolicies | null {
    if (!this.authFunctions || !access.usable) return null;
    const shape = { schema: access.schema, table: access.table, columns: [...access.columns] };
    const result = compilePolicySetExplained(access.policies, shape, this.authFunctions);
    if ('predicate' in result) return result.predicate;
    if (!this.notCompiled.has(access)) {
      this.notCompiled.add(access);
      this.log.debug(
        { schema: access.schema, table: access.table, why: result.notCompiled },
        'policies evaluated by PostgreSQL (outside the compiled subset)',
      );
    }
    return null;
  }

  async stop(): Promise<void> {
    this.catalog.stop();
    if (this.authTimer) clearInterval(this.authTimer);
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
