/**
 * A change as one identity may see it (ROW_AUTHORIZATION=postgres): the event text to send, or
 * nothing. The rules:
 *
 * - Columns the role may not SELECT are removed from `columns`, `record` and `old_record`.
 * - INSERT and UPDATE: a table without a primary key gives the row `Error 400: Bad Request, no
 *   primary key`, a key column the role may not read `Error 401: Unauthorized` (no row data, as
 *   the original server). Where row-level security applies to the role, the new row must pass the
 *   table's SELECT policies, judged on the values as committed; with REPLICA IDENTITY FULL the old
 *   row of an UPDATE is shown only if it passes too (else only its primary key).
 * - DELETE: shown whole (readable columns) when the old row passes the policies (REPLICA IDENTITY
 *   FULL, or no row-level security); otherwise with its primary key only, as the original server.
 * - TRUNCATE (legacy channels only): shown when row-level security does not apply to the role.
 * - A policy that raises gives that identity the change with `Error 500: …` and no row data.
 *
 * Verdicts come from a compiled predicate when the policies compile (no database), else from
 * PostgreSQL (PolicyEvaluator, batched). The view of one change for one identity is computed once
 * and shared by every channel of that identity. A database failure rejects the view: the caller
 * fails closed (never sends the change unchecked).
 */
import type { ChangeType, Row } from '@walcast/protocol';
import { joinMembers, objectMembers } from '../channels/raw-json';
import type { Identity } from './identity';
import { ownerColumnOf } from './owner-key';
import { policyRow } from './policy-row';
import { POLICY_ERROR, type PolicyEvaluator, type Verdict } from './policy-evaluator';
import type { TableAccess, TableAccessCatalog } from './table-access';

/** What an identity receives of a change: its event text and the columns it may read; `null`: nothing. */
export type View = { json: string; selectable: ReadonlySet<string> } | null;

export const NO_PRIMARY_KEY = 'Error 400: Bad Request, no primary key';
export const UNREADABLE_PRIMARY_KEY = 'Error 401: Unauthorized';

/** Judges one row in memory; `null` when the table's policies do not compile. */
export type CompiledPolicies = (row: Row, claims: Readonly<Record<string, unknown>>) => Verdict;

export interface RowAuthorizerOptions {
  catalog: TableAccessCatalog;
  evaluator: PolicyEvaluator;
  /**
   * Compiles a table's policies for in-memory evaluation, or returns null (database path). Asked
   * again for the same table access whenever `compilerVersion()` changes.
   */
  compile?(access: TableAccess): CompiledPolicies | null;
  compilerVersion?(): number;
  /** Counts each verdict by how it was reached. */
  onVerdict?(path: 'compiled' | 'database', verdict: Verdict): void;
}

export type PendingView = View | Promise<View>;
type Pending = PendingView;

/** The parts of a bus message row authorization reads (the fan-out's IncomingChange). */
export interface ChangeToAuthorize {
  header: { type: ChangeType };
  schema: string;
  table: string;
  eventJson: string;
  parsed(): ParsedRows;
  /** Views already computed for this message, by identity key. */
  views?: Map<string, PendingView>;
}

interface ParsedRows {
  record?: Row;
  old_record?: Row;
}

export class RowAuthorizer {
  /** Per message: its rows as JSON text and as the predicates read them, made once for every identity. */
  private readonly rows = new WeakMap<ChangeToAuthorize, ChangeRows>();
  private readonly ownerColumns = new WeakMap<TableAccess, string | null>();
  private readonly compiled = new WeakMap<
    TableAccess,
    { version: number; predicate: CompiledPolicies | null }
  >();

  constructor(private readonly opts: RowAuthorizerOptions) {}

  /** The view of `change` for `identity`: at once when no database round trip is needed. */
  view(change: ChangeToAuthorize, identity: Identity): Pending {
    const views = (change.views ??= new Map<string, Pending>());
    let view = views.get(identity.key);
    if (view === undefined) {
      view = this.compute(change, identity);
      views.set(identity.key, view);
    }
    return view;
  }

  private compute(change: ChangeToAuthorize, identity: Identity): Pending {
    const { schema, table } = change;
    const known = this.rowsOf(change).access;
    const access = known.has(identity.role)
      ? known.get(identity.role)
      : this.opts.catalog.peek(schema, table, identity.role);
    if (access !== undefined) {
      known.set(identity.role, access);
      return this.decide(change, identity, access);
    }
    return this.opts.catalog
      .get(schema, table, identity.role)
      .then((loaded) => this.decide(change, identity, loaded));
  }

  private decide(change: ChangeToAuthorize, identity: Identity, access: TableAccess | null): Pending {
    if (access === null) return null; // the table is gone (or never was): nothing to show
    const { type } = change.header;
    if (type === 'TRUNCATE')
      return access.rlsApplies ? null : { json: change.eventJson, selectable: access.selectable };
    const parsed = change.parsed();
    const readable = (c: string): boolean => access.selectable.has(c);
    if (type !== 'DELETE') {
      if (access.primaryKey.length === 0) return errorView(change, access, NO_PRIMARY_KEY);
      if (!access.primaryKey.every(readable)) return errorView(change, access, UNREADABLE_PRIMARY_KEY);
    }
    const full = (): View => ({ json: strip(change, access, false), selectable: access.selectable });
    const keyOnlyOld = (): View => ({ json: strip(change, access, true), selectable: access.selectable });
    if (!access.rlsApplies) return full();
    if (type === 'DELETE') {
      if (!access.replicaIdentityFull || !parsed.old_record) return keyOnlyOld();
      return then(this.verdict(access, identity, change, 'old_record'), (v) =>
        v === true ? full() : keyOnlyOld(),
      );
    }
    return then(this.verdict(access, identity, change, 'record'), (v): Pending => {
      if (v === false) return null;
      // The reference's wording, whatever the policy raised (the cause is logged, not sent).
      if (v !== true) return errorView(change, access, POLICY_ERROR);
      if (type !== 'UPDATE' || !access.replicaIdentityFull || !parsed.old_record) return full();
      return then(this.verdict(access, identity, change, 'old_record'), (old) =>
        old === true ? full() : keyOnlyOld(),
      );
    });
  }

  /**
   * For a change only identities with a matching `sub` may see (see owner-key.ts), the row's value
   * that `sub` must equal; `undefined` when every identity of `role` must be offered the change
   * (another policy, a DELETE, the table's access not known yet, policies not compiled).
   */
  ownerValue(change: ChangeToAuthorize, role: string): string | null | undefined {
    const { type } = change.header;
    if (type !== 'INSERT' && type !== 'UPDATE') return undefined;
    const rows = this.rowsOf(change);
    let access = rows.access.get(role);
    if (access === undefined) {
      access = this.opts.catalog.peek(change.schema, change.table, role);
      if (access === undefined) return undefined;
      rows.access.set(role, access);
    }
    if (access === null || !this.compiledFor(access)) return undefined;
    let column = this.ownerColumns.get(access);
    if (column === undefined) {
      column = ownerColumnOf(access);
      this.ownerColumns.set(access, column);
    }
    if (column === null) return undefined;
    const value = change.parsed().record?.[column];
    return typeof value === 'string' ? value : null;
  }

  private rowsOf(change: ChangeToAuthorize): ChangeRows {
    let rows = this.rows.get(change);
    if (!rows) {
      const members = new Map(objectMembers(change.eventJson));
      rows = {
        json: { record: members.get('record') ?? '{}', old_record: members.get('old_record') ?? '{}' },
        row: {},
        access: new Map(),
      };
      this.rows.set(change, rows);
    }
    return rows;
  }

  /** The table's policies as an in-memory predicate, compiled once per access and compiler version. */
  private compiledFor(access: TableAccess): CompiledPolicies | null {
    const version = this.opts.compilerVersion?.() ?? 0;
    let compiled = this.compiled.get(access);
    if (compiled === undefined || compiled.version !== version) {
      compiled = { version, predicate: this.opts.compile?.(access) ?? null };
      this.compiled.set(access, compiled);
    }
    return compiled.predicate;
  }

  private verdict(
    access: TableAccess,
    identity: Identity,
    change: ChangeToAuthorize,
    which: 'record' | 'old_record',
  ): Verdict | Promise<Verdict> {
    const predicate = this.compiledFor(access);
    const rows = this.rowsOf(change);
    const rowJson = rows.json[which];
    if (predicate) {
      const verdict = predicate((rows.row[which] ??= policyRow(rowJson)), identity.claims);
      this.opts.onVerdict?.('compiled', verdict);
      return verdict;
    }
    return this.opts.evaluator.evaluate(access, identity, rowJson).then((verdict) => {
      this.opts.onVerdict?.('database', verdict);
      return verdict;
    });
  }
}

interface ChangeRows {
  json: Record<'record' | 'old_record', string>;
  row: Partial<Record<'record' | 'old_record', Row>>;
  /** The table access of each role, as known when the message came. */
  access: Map<string, TableAccess | null>;
}

/** `f(value)` now for a value, after it for a promise. */
function then<T, U>(value: T | Promise<T>, f: (v: T) => U | Promise<U>): U | Promise<U> {
  return value instanceof Promise ? value.then(f) : f(value);
}

/** The event with unreadable columns removed; `keyOnlyOld`: `old_record` cut to the primary key. */
function strip(change: ChangeToAuthorize, access: TableAccess, keyOnlyOld: boolean): string {
  const { selectable, primaryKey } = access;
  const allReadable = access.columns.every((c) => selectable.has(c.name));
  if (allReadable && !keyOnlyOld) return change.eventJson;
  const pk = new Set(primaryKey);
  const members = objectMembers(change.eventJson).map(([key, raw]): [string, string] => {
    if (key === 'record' || key === 'old_record') {
      const keep =
        key === 'old_record' && keyOnlyOld
          ? (c: string) => pk.has(c) && selectable.has(c)
          : (c: string) => selectable.has(c);
      return [key, joinMembers(objectMembers(raw).filter(([column]) => keep(column)))];
    }
    if (key === 'columns') {
      const columns = JSON.parse(raw) as Array<{ name: string }>;
      return [key, JSON.stringify(columns.filter((c) => selectable.has(c.name)))];
    }
    return [key, raw];
  });
  return joinMembers(members);
}

/** The change with no row data and `errors: [message]`, as the original server's error rows. */
function errorView(change: ChangeToAuthorize, access: TableAccess, message: string): View {
  const replaced: Record<string, string> = {
    commit_timestamp: 'null',
    columns: '[]',
    record: '{}',
    old_record: '{}',
    errors: JSON.stringify([message]),
  };
  const members = objectMembers(change.eventJson).map(([key, raw]): [string, string] => [
    key,
    replaced[key] ?? raw,
  ]);
  for (const key of ['record', 'old_record', 'errors']) {
    if (!members.some(([k]) => k === key)) members.push([key, replaced[key]!]);
  }
  return { json: joinMembers(members), selectable: access.selectable };
}

export { POLICY_ERROR };
