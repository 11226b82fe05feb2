/**
 * Private channels (Realtime Authorization): whether an identity may read from or write to a
 * channel topic, decided by the row-level security policies on `realtime.messages` exactly as
 * Supabase Realtime decides it.
 *
 * - Read (the probe-row method): in one transaction, as the pool's own role, insert one probe row
 *   per extension (`topic`, `extension`, a random `id`; `private` at its default), set the context
 *   (`role`, `realtime.topic`, `request.jwt.claims`, `request.jwt.claim.sub`,
 *   `request.jwt.claim.role`, `request.headers`, all local), select the probes by id: each visible
 *   probe means read=true for its extension. Roll back.
 * - Write: the same context, then an INSERT per extension in a savepoint: success means true,
 *   SQLSTATE 42501 false. Roll back.
 *
 * Round trips: a check is one multi-statement text (channel-probe-sql.ts). Only when a statement
 * raises is the check repeated statement by statement, to tell a role that cannot be taken from a
 * policy that raised.
 *
 * Invariants:
 * - Nothing is ever committed: every transaction ends with ROLLBACK, on success and on failure (a
 *   connection whose state is unknown is released as broken, so the pool closes it).
 * - Values (role, topic, claims, headers) are quoted literals; the role is set with
 *   `set_config('role', …)`. The role `none` (which would mean "the pool's own role") is refused.
 * - A refusal ({@link ChannelRefusal}: the role cannot be taken, a value cannot be sent, a policy
 *   raised) answers false for that check only. A database that does not answer (connection
 *   refused or lost, no free connection in time, statement timeout) rejects with
 *   {@link ChannelAuthorizationError} `RowAuthorizationUnavailable`, so callers fail closed with a
 *   "could not check, retry" reason. Every check is bounded by `timeoutMs`, waiting included.
 * - At most the pool's connections are used; identical questions asked while one is being
 *   answered share its answer.
 *
 * Dependencies: a {@link ConnectionPool} (pg-pool.ts); logging is injected.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '@walcast/logger';
import { LogThrottle } from '@walcast/logger';
import { errorReason } from '@walcast/protocol';
import { canonicalJson, type Identity } from './identity';
import {
  classifyDbError,
  contextProblem,
  insertRowsSql,
  isUnknownRole,
  readBatchSql,
  READ_SELECT_INDEX,
  setContextSql,
  visibleProbesSql,
  writeBatchSql,
  type ChannelContext,
  type ChannelExtension,
  type ProbeRow,
} from './channel-probe-sql';
import { toWellFormed } from './sql-values';
import type { ConnectionPool, PooledConnection } from './queryable';

export type { ChannelExtension } from './channel-probe-sql';

/** Request headers as a JSON object (`request.headers`): the websocket's `x_headers`, or REST headers. */
export type ChannelHeaders = Readonly<Record<string, unknown>>;

/** Why a check answered false without the policies deciding it. */
export interface ChannelRefusal {
  /**
   * `InvalidRole`: the JWT role is not a PostgreSQL role, or the pool's role may not take it.
   * `InvalidValue`: a value of the context cannot be sent or set. `PolicyError`: a policy raised.
   */
  readonly code: 'InvalidRole' | 'InvalidValue' | 'PolicyError';
  /** What went wrong, for logs; it may quote PostgreSQL's error message, so a client is better sent readRefusedReason. */
  readonly message: string;
}

/** The answer of one check. */
export interface ChannelAccess {
  /** Per extension asked for: whether the policies allow it. Absent for extensions not asked for. */
  readonly allowed: Readonly<Partial<Record<ChannelExtension, boolean>>>;
  /** Set when the answers are false because the question could not be put or a policy raised. */
  readonly refusal: ChannelRefusal | null;
}

/** How a check ended, for metrics. */
export type ChannelCheckOutcome = 'allowed' | 'denied' | 'refused' | 'unavailable' | 'unusable';

/** A check that could not be answered: the caller fails closed (refuses) and may retry later. */
export class ChannelAuthorizationError extends Error {
  constructor(
    /**
     * `RowAuthorizationUnavailable`: the database did not answer in time (retry).
     * `RealtimeMessagesUnusable`: the pool's role could not insert into `realtime.messages` (the
     * table is missing or not writable by it); an operator must fix the database.
     */
    readonly code: 'RowAuthorizationUnavailable' | 'RealtimeMessagesUnusable',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ChannelAuthorizationError';
  }
}

export interface ChannelAuthorizerOptions {
  pool: ConnectionPool;
  /** Bound on one check, from the call to its answer (RLS_CHECK_TIMEOUT). */
  timeoutMs: number;
  log: Logger;
  /**
   * Called once per check as it is answered (coalesced calls count once; a timed-out check as
   * `unavailable`): for `GatewayMetrics.channelAuthCheckSeconds`.
   */
  onCheck?(check: 'read' | 'write', outcome: ChannelCheckOutcome, seconds: number): void;
}

/** The reference's join refusal for a private channel: `Unauthorized: You do not have permissions…`. */
export function readRefusedReason(subtopic: string): string {
  return errorReason(
    'Unauthorized',
    `You do not have permissions to read from this Channel topic: ${subtopic}`,
  );
}

const SAVEPOINT = 'walcast_write';

type Attempt = { ok: Array<{ rows: unknown[] }> } | { failed: unknown };

export class ChannelAuthorizer {
  private readonly inFlight = new Map<string, Promise<ChannelAccess>>();
  private readonly throttle = new LogThrottle({ max: 10, windowMs: 60_000 });

  constructor(private readonly opts: ChannelAuthorizerOptions) {}

  /** Whether `identity` may read `subtopic` (the topic without `realtime:`), per extension. */
  read(
    identity: Identity,
    subtopic: string,
    extensions: readonly ChannelExtension[],
    headers?: ChannelHeaders,
  ): Promise<ChannelAccess> {
    return this.ask('read', identity, subtopic, extensions, headers);
  }

  /** Whether `identity` may write to `subtopic`, per extension. */
  write(
    identity: Identity,
    subtopic: string,
    extensions: readonly ChannelExtension[],
    headers?: ChannelHeaders,
  ): Promise<ChannelAccess> {
    return this.ask('write', identity, subtopic, extensions, headers);
  }

  private ask(
    kind: 'read' | 'write',
    identity: Identity,
    subtopic: string,
    extensions: readonly ChannelExtension[],
    headers: ChannelHeaders | undefined,
  ): Promise<ChannelAccess> {
    const asked = [...new Set(extensions)].sort();
    if (asked.length === 0) return Promise.resolve({ allowed: {}, refusal: null });
    const context: ChannelContext = {
      role: identity.role,
      topic: toWellFormed(subtopic),
      claimsJson: identity.claimsJson,
      sub: identity.sub,
      claimRole: identity.role,
      headersJson: JSON.stringify(headers ?? {}),
    };
    const key = JSON.stringify([kind, identity.key, context.topic, asked, canonicalJson(headers ?? {})]);
    let answer = this.inFlight.get(key);
    if (!answer) {
      answer = this.measured(kind, this.bounded(this.check(kind, context, asked)));
      this.inFlight.set(key, answer);
      const forget = (): void => void this.inFlight.delete(key);
      answer.then(forget, forget);
    }
    return answer;
  }

  /** `work`, or a `RowAuthorizationUnavailable` rejection after `timeoutMs`. */
  private bounded(work: Promise<ChannelAccess>): Promise<ChannelAccess> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new ChannelAuthorizationError(
              'RowAuthorizationUnavailable',
              `could not check the channel's policies within ${this.opts.timeoutMs} ms; retry`,
            ),
          ),
        this.opts.timeoutMs,
      );
      timer.unref();
      work.then(
        (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  /** `answer`, reported to `onCheck` with its outcome and duration; any other error as unavailable. */
  private async measured(kind: 'read' | 'write', answer: Promise<ChannelAccess>): Promise<ChannelAccess> {
    const started = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const access = await answer;
      this.opts.onCheck?.(kind, outcomeOf(access), seconds());
      return access;
    } catch (err) {
      const failure = err instanceof ChannelAuthorizationError ? err : unavailable(err);
      const outcome = failure.code === 'RowAuthorizationUnavailable' ? 'unavailable' : 'unusable';
      this.opts.onCheck?.(kind, outcome, seconds());
      throw failure;
    }
  }

  private async check(
    kind: 'read' | 'write',
    context: ChannelContext,
    extensions: readonly ChannelExtension[],
  ): Promise<ChannelAccess> {
    const problem = contextProblem(context);
    if (problem !== null) {
      const code = context.role === 'none' ? 'InvalidRole' : 'InvalidValue';
      return refused(extensions, { code, message: problem });
    }
    const conn = await this.opts.pool.connect();
    let broken: Error | undefined;
    try {
      const rows = extensions.map((extension): ProbeRow => ({ extension, id: randomUUID() }));
      return kind === 'read'
        ? await this.readOn(conn, context, rows)
        : await this.writeOn(conn, context, rows);
    } catch (err) {
      // A connection or timeout failure leaves the connection's state unknown: the pool closes it.
      if (!(err instanceof ChannelAuthorizationError) || err.code === 'RowAuthorizationUnavailable')
        broken = err instanceof Error ? err : new Error(String(err));
      throw err;
    } finally {
      conn.release(broken);
    }
  }

  private async readOn(
    conn: PooledConnection,
    context: ChannelContext,
    probes: readonly ProbeRow[],
  ): Promise<ChannelAccess> {
    const batch = await attempt(conn, readBatchSql(context, probes));
    if ('ok' in batch) return { allowed: visible(probes, batch.ok[READ_SELECT_INDEX]!.rows), refusal: null };
    // A statement raised: again step by step, to tell which one.
    await conn.query('rollback');
    await this.insertProbes(conn, context, probes);
    const refusal = await this.setContext(conn, context);
    if (refusal) return refused(probes, refusal);
    const select = await attempt(conn, visibleProbesSql(probes));
    await conn.query('rollback');
    if ('ok' in select) return { allowed: visible(probes, select.ok[0]!.rows), refusal: null };
    return refused(probes, this.policyRefusal(context, select.failed));
  }

  private async writeOn(
    conn: PooledConnection,
    context: ChannelContext,
    rows: readonly ProbeRow[],
  ): Promise<ChannelAccess> {
    const batch = await attempt(conn, writeBatchSql(context, rows));
    if ('ok' in batch) return { allowed: answers(rows, () => true), refusal: null };
    await conn.query('rollback');
    await conn.query('begin');
    const contextRefusal = await this.setContext(conn, context);
    if (contextRefusal) return refused(rows, contextRefusal);
    const allowed: Partial<Record<ChannelExtension, boolean>> = {};
    let refusal: ChannelRefusal | null = null;
    for (const row of rows) {
      const insert = await attempt(conn, `savepoint ${SAVEPOINT};\n${insertRowsSql(context.topic, [row])}`);
      allowed[row.extension] = 'ok' in insert;
      if ('ok' in insert) {
        await conn.query(`release savepoint ${SAVEPOINT}`);
        continue;
      }
      await conn.query(`rollback to savepoint ${SAVEPOINT}`);
      if (classifyDbError(insert.failed) !== 'refused') refusal = this.policyRefusal(context, insert.failed);
    }
    await conn.query('rollback');
    return { allowed, refusal };
  }

  /** Begins the transaction and inserts the probes as the pool's role; a failure is the database's set-up. */
  private async insertProbes(
    conn: PooledConnection,
    context: ChannelContext,
    probes: readonly ProbeRow[],
  ): Promise<void> {
    const insert = await attempt(conn, `begin;\n${insertRowsSql(context.topic, probes)}`);
    if ('ok' in insert) return;
    await conn.query('rollback');
    const err = insert.failed;
    this.throttle.run('realtime.messages unusable', (suppressed) =>
      this.opts.log.error(
        { err, code: 'RealtimeMessagesUnusable', ...(suppressed > 0 ? { suppressed } : {}) },
        "could not insert probe rows into realtime.messages as the gateway's database role",
      ),
    );
    throw new ChannelAuthorizationError(
      'RealtimeMessagesUnusable',
      `private channels cannot be checked: inserting into realtime.messages failed (${messageOf(err)})`,
      { cause: err },
    );
  }

  /** Sets the context in the open transaction; a refusal when PostgreSQL does not accept it (rolled back). */
  private async setContext(conn: PooledConnection, context: ChannelContext): Promise<ChannelRefusal | null> {
    const set = await attempt(conn, setContextSql(context));
    if ('ok' in set) return null;
    await conn.query('rollback');
    const err = set.failed;
    const role = JSON.stringify(context.role);
    if (isUnknownRole(err))
      return { code: 'InvalidRole', message: `the JWT role ${role} is not a PostgreSQL role` };
    if (classifyDbError(err) === 'refused')
      return {
        code: 'InvalidRole',
        message: `the gateway's database role may not act as the JWT role ${role}`,
      };
    return { code: 'InvalidValue', message: `PostgreSQL refused the check's settings (${messageOf(err)})` };
  }

  private policyRefusal(context: ChannelContext, err: unknown): ChannelRefusal {
    this.throttle.warn(
      this.opts.log,
      { err, topic: context.topic.slice(0, 100), role: context.role, code: 'PolicyError' },
      'a row-level security policy on realtime.messages raised; the channel check answers false',
    );
    return { code: 'PolicyError', message: `a policy on realtime.messages raised (${messageOf(err)})` };
  }
}

/**
 * Runs `text` (one or more statements). A statement PostgreSQL raised comes back as `failed` (the
 * transaction, if any, is then aborted); a connection or timeout failure rejects.
 */
async function attempt(conn: PooledConnection, text: string): Promise<Attempt> {
  try {
    return { ok: await conn.queryMany(text) };
  } catch (err) {
    if (classifyDbError(err) === 'unavailable') throw unavailable(err);
    return { failed: err };
  }
}

function unavailable(err: unknown): ChannelAuthorizationError {
  return new ChannelAuthorizationError(
    'RowAuthorizationUnavailable',
    `could not check the channel's policies: the database did not answer (${messageOf(err)}); retry`,
    { cause: err },
  );
}

function visible(
  probes: readonly ProbeRow[],
  rows: readonly unknown[],
): Partial<Record<ChannelExtension, boolean>> {
  const seen = new Set((rows as Array<{ id: string }>).map((r) => r.id));
  return answers(probes, (p) => seen.has(p.id));
}

function answers(
  rows: readonly ProbeRow[],
  answer: (row: ProbeRow) => boolean,
): Partial<Record<ChannelExtension, boolean>> {
  const allowed: Partial<Record<ChannelExtension, boolean>> = {};
  for (const row of rows) allowed[row.extension] = answer(row);
  return allowed;
}

function refused(
  extensions: ReadonlyArray<ChannelExtension | ProbeRow>,
  refusal: ChannelRefusal,
): ChannelAccess {
  const allowed: Partial<Record<ChannelExtension, boolean>> = {};
  for (const e of extensions) allowed[typeof e === 'string' ? e : e.extension] = false;
  return { allowed, refusal };
}

function outcomeOf(access: ChannelAccess): ChannelCheckOutcome {
  if (access.refusal) return 'refused';
  return Object.values(access.allowed).some((v) => v) ? 'allowed' : 'denied';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
