/**
 * Evaluates a table's SELECT policies in PostgreSQL on row values as they were committed (from the
 * change, not from the table), for one identity: the role is set with `SET LOCAL ROLE`, the claims
 * with `request.jwt.claims` / `.claim.sub` / `.claim.role`, and the policies run over
 * `jsonb_populate_record(null::<table>, <row>)`, aliased as the table so their column references
 * resolve to the committed values. Policies that read other tables see those tables' current state.
 *
 * Batching: evaluations for the same table and role asked for while no connection is free (or in
 * one event-loop turn) share one transaction, sent in one round trip, and the rows of one identity
 * one statement; so batches grow with the load. A statement
 * that raises is retried row by row (each under a savepoint), so a policy that raises for one row
 * or one identity yields an error verdict for that one only. A connection or timeout failure
 * rejects every evaluation of the batch: the caller fails closed.
 */
import type { Logger } from '@walcast/logger';
import { LogThrottle } from '@walcast/logger';
import type { Identity } from './identity';
import type { ConnectionPool, PooledConnection } from './queryable';
import type { PolicySet, TableAccess } from './table-access';

export type { Verdict } from './policy-compiler';
import type { Verdict } from './policy-compiler';

/** The error verdict's text, as Supabase's fix for raising policies words it. */
export const POLICY_ERROR = 'Error 500: Internal Server Error, RLS policy evaluation failed';

/** Rows of one identity evaluated in one statement at most. */
const MAX_ROWS_PER_STATEMENT = 500;

interface Pending {
  /** The row as JSON text (the change's own bytes: int8 and numeric keep their digits). */
  rowJson: string;
  resolve(v: Verdict): void;
  reject(err: unknown): void;
}

interface Batch {
  access: TableAccess;
  role: string;
  identities: Map<string, { identity: Identity; items: Pending[] }>;
}

export interface PolicyEvaluatorOptions {
  pool: ConnectionPool;
  /** Batches evaluated at once: the pool's size. */
  maxConcurrent: number;
  log: Logger;
  /** Called once per transaction with how many rows it judged and how long it took. */
  onBatch?(rows: number, seconds: number): void;
}

/** `"name"` with embedded quotes doubled. */
export const quoteIdent = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The policies as one SQL boolean: any permissive passes and every restrictive passes (NULL is false). */
export function combinedPolicySql(policies: PolicySet): string {
  if (policies.permissive.length === 0) return 'false';
  const permissive = `((${policies.permissive.map((q) => `(${q})`).join(' OR ')}) IS TRUE)`;
  return [permissive, ...policies.restrictive.map((q) => `((${q}) IS TRUE)`)].join(' AND ');
}

/**
 * The statement judging a JSON array of rows of `access`'s table: `(ord, visible)` per row. The
 * array is `rows` (SQL text: a parameter such as `$1`, or a quoted literal).
 */
export function policyStatement(access: TableAccess, rows = '$1'): string {
  const table = quoteIdent(access.table);
  return (
    `select _walcast_r._walcast_ord::int as ord, (${combinedPolicySql(access.policies)}) as visible ` +
    `from jsonb_array_elements(${rows}::jsonb) with ordinality as _walcast_r(_walcast_row, _walcast_ord) ` +
    `cross join lateral jsonb_populate_record(null::${quoteIdent(access.schema)}.${table}, ` +
    `_walcast_r._walcast_row) as ${table}`
  );
}

/** A string as an SQL literal (standard_conforming_strings, or E'' when it holds a backslash). */
export function quoteLiteral(text: string): string {
  const quoted = `'${text.replace(/'/g, "''")}'`;
  return text.includes('\\') ? ` E${quoted.replace(/\\/g, '\\\\')}` : quoted;
}

const SET_CLAIMS =
  "select set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', $2, true), " +
  "set_config('request.jwt.claim.role', $3, true)";

export class PolicyEvaluator {
  private readonly batches = new Map<string, Batch>();
  private scheduled = false;
  /** Batches being evaluated (each holds one pooled connection). */
  private running = 0;
  /** Keys (table version and role) of the batches being evaluated, with how many parts run. */
  private readonly inFlight = new Map<string, number>();
  private readonly throttle = new LogThrottle({ max: 10, windowMs: 60_000 });

  constructor(private readonly opts: PolicyEvaluatorOptions) {}

  /** Whether `identity` may see the row `rowJson` (a JSON object) of `access`'s table by its policies. */
  evaluate(access: TableAccess, identity: Identity, rowJson: string): Promise<Verdict> {
    const key = `${access.version}|${identity.role}`;
    let batch = this.batches.get(key);
    if (!batch) {
      batch = { access, role: identity.role, identities: new Map() };
      this.batches.set(key, batch);
    }
    let forIdentity = batch.identities.get(identity.key);
    if (!forIdentity) {
      forIdentity = { identity, items: [] };
      batch.identities.set(identity.key, forIdentity);
    }
    const items = forIdentity.items;
    const promise = new Promise<Verdict>((resolve, reject) => items.push({ rowJson, resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return promise;
  }

  /**
   * Starts the waiting batches, as many as connections are free. While every connection is busy,
   * evaluations keep joining the waiting batches, so batches grow with the load and the cost of a
   * round trip and of planning a statement is shared by more rows.
   */
  private flush(): void {
    this.scheduled = false;
    for (const [key, batch] of this.batches) {
      const free = this.opts.maxConcurrent - this.running;
      if (free <= 0) return;
      // One evaluation at a time per table and role: the next one takes every row that came meanwhile.
      if (this.inFlight.has(key)) continue;
      this.batches.delete(key);
      // Its identities split over the free connections, evaluated in parallel.
      const parts = splitBatch(batch, free);
      this.inFlight.set(key, parts.length);
      this.running += parts.length;
      for (const part of parts) {
        void this.run(part)
          .catch((err: unknown) => {
            for (const { items } of part.identities.values()) for (const item of items) item.reject(err);
          })
          .finally(() => {
            this.running--;
            const left = (this.inFlight.get(key) ?? 1) - 1;
            if (left > 0) this.inFlight.set(key, left);
            else this.inFlight.delete(key);
            if (this.batches.size > 0) this.flush();
          });
      }
    }
  }

  private async run(batch: Batch): Promise<void> {
    const started = process.hrtime.bigint();
    const statement = policyStatement(batch.access);
    const conn = await this.opts.pool.connect();
    let broken: Error | undefined;
    let rows = 0;
    try {
      if (await this.judgeAtOnce(conn, batch, statement)) {
        rows = [...batch.identities.values()].reduce((n, { items }) => n + items.length, 0);
        return;
      }
      // A statement raised, or an identity has too many rows for one statement: judge identity by
      // identity, in chunks, row by row where needed.
      await conn.query(`begin; set local role ${quoteIdent(batch.role)}`);
      for (const { identity, items } of batch.identities.values()) {
        await conn.query(SET_CLAIMS, [identity.claimsJson, identity.sub, identity.role]);
        for (let i = 0; i < items.length; i += MAX_ROWS_PER_STATEMENT) {
          const chunk = items.slice(i, i + MAX_ROWS_PER_STATEMENT);
          await this.judge(conn, statement, chunk, batch);
          rows += chunk.length;
        }
      }
      await conn.query('rollback');
    } catch (err) {
      broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      conn.release(broken);
      this.opts.onBatch?.(rows, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  /**
   * The whole batch in one round trip: one transaction, and per identity its claims and one
   * statement over its rows, as one multi-statement text. Each identity's policies run in a
   * statement of their own (a subquery the planner runs once per statement stays per identity).
   * False, with nothing resolved, when a statement raised (the caller then isolates it).
   */
  private async judgeAtOnce(conn: PooledConnection, batch: Batch, statement: string): Promise<boolean> {
    const groups = [...batch.identities.values()];
    if (groups.some(({ items }) => items.length > MAX_ROWS_PER_STATEMENT)) return false;
    // The statement is prepared once per connection (a prepared statement outlives the rolled-back
    // transaction) and executed per identity: planning it once per identity cost most of the time.
    const name = `walcast_policy_${fnv1a(statement)}`;
    const prepare = !conn.prepared.has(name);
    const parts = prepare ? [`prepare ${name}(text) as ${statement}`] : [];
    parts.push(`begin`, `set local role ${quoteIdent(batch.role)}`);
    for (const { identity, items } of groups) {
      parts.push(
        `select set_config('request.jwt.claims', ${quoteLiteral(identity.claimsJson)}, true), ` +
          `set_config('request.jwt.claim.sub', ${quoteLiteral(identity.sub)}, true), ` +
          `set_config('request.jwt.claim.role', ${quoteLiteral(identity.role)}, true)`,
        `execute ${name}(${quoteLiteral(`[${items.map((i) => i.rowJson).join(',')}]`)})`,
      );
    }
    parts.push('rollback');
    let results: Array<{ rows: unknown[] }>;
    try {
      results = await conn.queryMany(parts.join(';\n'));
    } catch (err) {
      if (!isSqlError(err)) throw err;
      await conn.query('rollback');
      return false;
    }
    if (prepare) conn.prepared.add(name);
    const first = prepare ? 4 : 3;
    groups.forEach(({ items }, k) => {
      const verdicts = new Array<boolean>(items.length).fill(false);
      for (const r of results[first + 2 * k]!.rows as Array<{ ord: number; visible: boolean | null }>)
        verdicts[r.ord - 1] = r.visible === true;
      items.forEach((item, i) => item.resolve(verdicts[i]!));
    });
    return true;
  }

  /** One statement for `items`; if it raises, each row on its own under a savepoint. */
  private async judge(
    conn: PooledConnection,
    statement: string,
    items: Pending[],
    batch: Batch,
  ): Promise<void> {
    const rows = `[${items.map((i) => i.rowJson).join(',')}]`;
    await conn.query('savepoint walcast_batch');
    try {
      const result = await conn.query<{ ord: number; visible: boolean | null }>(statement, [rows]);
      await conn.query('release savepoint walcast_batch');
      const verdicts = new Array<boolean>(items.length).fill(false);
      for (const r of result.rows) verdicts[r.ord - 1] = r.visible === true;
      items.forEach((item, i) => item.resolve(verdicts[i]!));
      return;
    } catch (err) {
      if (!isSqlError(err)) throw err;
      await conn.query('rollback to savepoint walcast_batch');
    }
    for (const item of items) {
      await conn.query('savepoint walcast_row');
      try {
        const result = await conn.query<{ visible: boolean | null }>(statement, [`[${item.rowJson}]`]);
        await conn.query('release savepoint walcast_row');
        item.resolve(result.rows[0]?.visible === true);
      } catch (err) {
        if (!isSqlError(err)) throw err;
        await conn.query('rollback to savepoint walcast_row');
        this.throttle.warn(
          this.opts.log,
          {
            err,
            schema: batch.access.schema,
            table: batch.access.table,
            role: batch.role,
            code: 'PolicyError',
          },
          'a row-level security policy raised; that subscriber gets an error instead of the row',
        );
        item.resolve({ error: POLICY_ERROR });
      }
    }
  }
}

/** `batch` as at most `parts` batches of whole identities, of about equal size. */
function splitBatch(batch: Batch, parts: number): Batch[] {
  const entries = [...batch.identities.entries()];
  const count = Math.max(1, Math.min(parts, entries.length));
  if (count === 1) return [batch];
  const size = Math.ceil(entries.length / count);
  const out: Batch[] = [];
  for (let i = 0; i < entries.length; i += size) {
    out.push({ access: batch.access, role: batch.role, identities: new Map(entries.slice(i, i + size)) });
  }
  return out;
}

/** FNV-1a of `text` as 8 hex digits (names a prepared statement after its text). */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}

/** An error PostgreSQL raised for the statement (it has a SQLSTATE), not a broken connection or a timeout. */
function isSqlError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  // 57014: query_canceled (statement_timeout); 08xxx: connection exceptions; 57P0x: shutdown.
  return (
    typeof code === 'string' &&
    code.length === 5 &&
    code !== '57014' &&
    !code.startsWith('08') &&
    !code.startsWith('57P')
  );
}
