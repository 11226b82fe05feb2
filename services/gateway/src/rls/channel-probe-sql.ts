/**
 * The statements of a private channel's authorization check (channel-authorizer.ts), built as text
 * for the simple query protocol so that a whole check is one round trip: every value is a quoted
 * literal (quoteLiteral), never spliced unquoted, and the role is set with `set_config('role', …)`,
 * a value rather than an identifier. Pure: no I/O.
 *
 * The context is what Supabase Realtime sets before its probe (`realtime.topic`, the JWT's claims,
 * `sub` and `role`, the request headers), all local to the transaction, which is always rolled back.
 */
import { quoteLiteral } from './policy-evaluator';
import { isUnsendable } from './jwt-settings';

/** A feature of a channel that `realtime.messages` policies tell apart by its `extension` column. */
export type ChannelExtension = 'broadcast' | 'presence';

export const CHANNEL_EXTENSIONS: readonly ChannelExtension[] = ['broadcast', 'presence'];

/** The `set_config` values of one check (each sent as a literal). */
export interface ChannelContext {
  /** The JWT role: `role` for the policies' statements. */
  role: string;
  /** The channel's topic without `realtime:` (`realtime.topic`, and the probe rows' `topic`). */
  topic: string;
  /** `request.jwt.claims`: the claims as JSON text. */
  claimsJson: string;
  /** `request.jwt.claim.sub`. */
  sub: string;
  /** `request.jwt.claim.role`. */
  claimRole: string;
  /** `request.headers`: the request's headers as JSON text (`{}` when there are none). */
  headersJson: string;
}

/** One probe or write row: the extension it stands for and its random id. */
export interface ProbeRow {
  extension: ChannelExtension;
  id: string;
}

/**
 * Why a context cannot be sent: a value holding U+0000 (the simple query protocol ends a statement
 * at it), or the role `none` (`set_config('role', 'none')` means "back to the session's role", the
 * pool's own); null when it can.
 */
export function contextProblem(context: ChannelContext): string | null {
  if (context.role === 'none') return 'the JWT role "none" is not a role a check can run as';
  for (const [name, value] of Object.entries(context)) {
    if (isUnsendable(value)) return `the ${name} of the check holds U+0000, which PostgreSQL cannot receive`;
  }
  return null;
}

/** The statement that sets the whole context, role included, local to the transaction. */
export function setContextSql(context: ChannelContext): string {
  const settings: Array<[string, string]> = [
    ['realtime.topic', context.topic],
    ['request.jwt.claims', context.claimsJson],
    ['request.jwt.claim.sub', context.sub],
    ['request.jwt.claim.role', context.claimRole],
    ['request.headers', context.headersJson],
    // Last: once it is set, the statement's remaining expressions would run as the role.
    ['role', context.role],
  ];
  return `select ${settings.map(([name, value]) => `set_config('${name}', ${quoteLiteral(value)}, true)`).join(', ')}`;
}

/** Inserts `rows` into `realtime.messages` for `topic` (`private`, `payload`, `event` at their defaults). */
export function insertRowsSql(topic: string, rows: readonly ProbeRow[]): string {
  const values = rows.map(
    (r) => `(${quoteLiteral(topic)}, ${quoteLiteral(r.extension)}, ${quoteLiteral(r.id)}::uuid)`,
  );
  return `insert into realtime.messages (topic, extension, id) values ${values.join(', ')}`;
}

/** The probe rows the current role can see (`id` as text). */
export function visibleProbesSql(rows: readonly ProbeRow[]): string {
  return `select id::text as id from realtime.messages where id in (${rows.map((r) => `${quoteLiteral(r.id)}::uuid`).join(', ')})`;
}

/**
 * The read check as one text: insert the probes as the pool's role, set the context, select the
 * visible probes (result index {@link READ_SELECT_INDEX}), roll back.
 */
export function readBatchSql(context: ChannelContext, probes: readonly ProbeRow[]): string {
  return [
    'begin',
    insertRowsSql(context.topic, probes),
    setContextSql(context),
    visibleProbesSql(probes),
    'rollback',
  ].join(';\n');
}

export const READ_SELECT_INDEX = 3;

/**
 * The write check as one text, for when every insert succeeds: set the context, then per row an
 * insert in a savepoint, roll back. A statement that raises ends the batch (the caller then checks
 * row by row).
 */
export function writeBatchSql(context: ChannelContext, rows: readonly ProbeRow[]): string {
  const parts = ['begin', setContextSql(context)];
  for (const row of rows) {
    parts.push(
      'savepoint walcast_write',
      insertRowsSql(context.topic, [row]),
      'release savepoint walcast_write',
    );
  }
  parts.push('rollback');
  return parts.join(';\n');
}

/** How a failed statement is answered. */
export type DbFailure =
  /** The database did not answer (connection refused or lost, pool or statement timeout, shutdown, overload). */
  | 'unavailable'
  /** SQLSTATE 42501: a privilege or a row-level security policy refused it. */
  | 'refused'
  /** Another error PostgreSQL raised for the statement (a raising policy, a missing object). */
  | 'sql-error';

/** Classifies an error of a query: PostgreSQL's errors have a five-character SQLSTATE `code`. */
export function classifyDbError(err: unknown): DbFailure {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || code.length !== 5) return 'unavailable';
  // 08: connection exception; 53: insufficient resources (too many connections); 57014:
  // query_canceled (statement_timeout); 57P0x: shutdown, crash; 58: system error.
  if (/^(08|53|57P|58)/.test(code) || code === '57014') return 'unavailable';
  return code === '42501' ? 'refused' : 'sql-error';
}

/** SQLSTATE 22023 from `set_config('role', …)`: the role does not exist. */
export function isUnknownRole(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return (
    e?.code === '22023' && typeof e.message === 'string' && /^role ".*" does not exist$/s.test(e.message)
  );
}
