/**
 * What one role may read of one table, read from PostgreSQL's catalogs and kept fresh: whether
 * row-level security applies to the role (enabled, and the role neither a superuser, BYPASSRLS,
 * nor an owner of a table without FORCE ROW LEVEL SECURITY, as PostgreSQL decides), the SELECT
 * policies that apply to it (`FOR SELECT`/`FOR ALL`, `TO` one of its roles or PUBLIC; permissive
 * and restrictive apart), its column privileges, the primary key and the replica identity.
 *
 * Entries are loaded on first use and reloaded every `refreshMs`, so policy and grant changes take
 * effect within that time without a restart; entries unused for `idleMs` are dropped. A reload that
 * fails keeps the previous entry (evaluations fail closed on their own when the database is away).
 */
import type { Logger } from '@walcast/logger';
import type { Queryable } from './queryable';

export interface PolicySet {
  /** `pg_get_expr(polqual)` of each permissive policy; OR'd. */
  permissive: string[];
  /** Of each restrictive policy; AND'd with the permissive ones. */
  restrictive: string[];
}

export interface TableAccess {
  schema: string;
  table: string;
  /** Row-level security filters this role's reads (policies must pass). */
  rlsApplies: boolean;
  /** REPLICA IDENTITY FULL: DELETE and UPDATE carry the whole old row. */
  replicaIdentityFull: boolean;
  /** In table order, with `pg_type.typname`. */
  columns: ReadonlyArray<{ name: string; type: string }>;
  /** Columns the role may SELECT. */
  selectable: ReadonlySet<string>;
  primaryKey: readonly string[];
  policies: PolicySet;
  /**
   * The role may use the table's schema, and the `auth` schema and its helpers: PostgreSQL would
   * not raise "permission denied" before the policies decide (a compiled predicate may stand in).
   */
  usable: boolean;
  /** Changes whenever anything above does (a reload that found a difference). */
  version: number;
}

/** Loads the access of `role` to `schema.table`; `null` when the table does not exist. */
export const TABLE_ACCESS_SQL = `
select c.relrowsecurity as rls, c.relforcerowsecurity as force, c.relreplident as replident,
  (r.rolsuper or r.rolbypassrls) as bypass,
  pg_has_role($3::name, c.relowner, 'USAGE') as owner,
  has_schema_privilege($3::name, c.relnamespace, 'USAGE')
    and (not exists (select 1 from pg_namespace where nspname = 'auth')
      or (has_schema_privilege($3::name, 'auth', 'USAGE')
        and coalesce((select bool_and(has_function_privilege($3::name, p.oid, 'EXECUTE'))
          from pg_proc p join pg_namespace ns on ns.oid = p.pronamespace
          where ns.nspname = 'auth' and p.proname in ('uid', 'jwt', 'role', 'email') and p.pronargs = 0),
          true))) as usable,
  coalesce((select json_agg(json_build_object('name', a.attname, 'type', t.typname,
      'selectable', has_column_privilege($3::name, c.oid, a.attnum, 'SELECT')) order by a.attnum)
    from pg_attribute a join pg_type t on t.oid = a.atttypid
    where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns,
  coalesce((select json_agg(a.attname order by k.ord)
    from pg_index i
    cross join lateral unnest(i.indkey::int2[]) with ordinality as k(attnum, ord)
    join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
    where i.indrelid = c.oid and i.indisprimary), '[]') as pk,
  coalesce((select json_agg(json_build_object('permissive', p.polpermissive,
      'qual', pg_get_expr(p.polqual, p.polrelid)) order by p.polname)
    from pg_policy p
    where p.polrelid = c.oid and p.polcmd in ('r', '*') and p.polqual is not null
      and (p.polroles = '{0}'::oid[]
        or exists (select 1 from unnest(p.polroles) pr where pg_has_role($3::name, pr, 'USAGE')))),
    '[]') as policies
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_roles r on r.rolname = $3::name
where n.nspname = $1::name and c.relname = $2::name and c.relkind in ('r', 'p')`;

interface Row {
  rls: boolean;
  force: boolean;
  replident: string;
  bypass: boolean;
  owner: boolean;
  usable: boolean;
  columns: Array<{ name: string; type: string; selectable: boolean }>;
  pk: string[];
  policies: Array<{ permissive: boolean; qual: string }>;
}

interface Entry {
  value: TableAccess | null;
  pending: Promise<TableAccess | null> | null;
  usedAt: number;
}

export interface TableAccessCatalogOptions {
  db: Queryable;
  refreshMs: number;
  idleMs?: number;
  log: Logger;
  now?: () => number;
}

export class TableAccessCatalog {
  private readonly entries = new Map<string, Entry>();
  private readonly roles = new Map<string, { exists: boolean; checkedAt: number }>();
  private timer: NodeJS.Timeout | null = null;
  private version = 0;

  constructor(private readonly opts: TableAccessCatalogOptions) {}

  start(): void {
    const tick = (): void => {
      this.timer = setTimeout(() => {
        void this.refresh().finally(tick);
      }, this.opts.refreshMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Whether `role` exists; cached for `refreshMs`. Rejects when the database cannot answer. */
  async roleExists(role: string): Promise<boolean> {
    const now = this.now();
    const cached = this.roles.get(role);
    if (cached && now - cached.checkedAt < this.opts.refreshMs) return cached.exists;
    const result = await this.opts.db.query<{ n: number }>(
      'select count(*)::int as n from pg_roles where rolname = $1::name',
      [role],
    );
    const exists = (result.rows[0]?.n ?? 0) > 0;
    this.roles.set(role, { exists, checkedAt: now });
    return exists;
  }

  /** The access of `role` to `schema.table` when known, without waiting. */
  peek(schema: string, table: string, role: string): TableAccess | null | undefined {
    const entry = this.entries.get(keyOf(schema, table, role));
    if (!entry || entry.pending) return undefined;
    entry.usedAt = this.now();
    return entry.value;
  }

  /** The access of `role` to `schema.table` (`null`: no such table); loads it on first use. */
  get(schema: string, table: string, role: string): Promise<TableAccess | null> {
    const key = keyOf(schema, table, role);
    const entry = this.entries.get(key);
    if (entry) {
      entry.usedAt = this.now();
      return entry.pending ?? Promise.resolve(entry.value);
    }
    const fresh: Entry = { value: null, pending: null, usedAt: this.now() };
    fresh.pending = this.load(schema, table, role).then(
      (value) => {
        fresh.value = value;
        fresh.pending = null;
        return value;
      },
      (err: unknown) => {
        this.entries.delete(key);
        throw err;
      },
    );
    this.entries.set(key, fresh);
    return fresh.pending;
  }

  /** Reloads every entry (dropping idle ones); never throws. */
  async refresh(): Promise<void> {
    const now = this.now();
    const idleMs = this.opts.idleMs ?? 10 * 60_000;
    this.roles.clear();
    for (const [key, entry] of [...this.entries]) {
      if (entry.pending) continue;
      if (now - entry.usedAt > idleMs) {
        this.entries.delete(key);
        continue;
      }
      const [schema, table, role] = JSON.parse(key) as [string, string, string];
      try {
        const next = await this.load(schema, table, role);
        if (!sameAccess(entry.value, next)) entry.value = next;
      } catch (err) {
        this.opts.log.debug({ err, schema, table }, 'could not reload table access; keeping the last');
      }
    }
  }

  private async load(schema: string, table: string, role: string): Promise<TableAccess | null> {
    const result = await this.opts.db.query<Row>(TABLE_ACCESS_SQL, [schema, table, role]);
    const row = result.rows[0];
    if (!row) return null;
    return {
      schema,
      table,
      rlsApplies: row.rls && !row.bypass && (!row.owner || row.force),
      replicaIdentityFull: row.replident === 'f',
      columns: row.columns.map(({ name, type }) => ({ name, type })),
      selectable: new Set(row.columns.filter((c) => c.selectable).map((c) => c.name)),
      primaryKey: row.pk,
      policies: {
        permissive: row.policies.filter((p) => p.permissive).map((p) => p.qual),
        restrictive: row.policies.filter((p) => !p.permissive).map((p) => p.qual),
      },
      usable: row.usable,
      version: ++this.version,
    };
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}

const keyOf = (schema: string, table: string, role: string): string => JSON.stringify([schema, table, role]);

function sameAccess(a: TableAccess | null, b: TableAccess | null): boolean {
  if (a === null || b === null) return a === b;
  const { version: _a, selectable: sa, ...restA } = a;
  const { version: _b, selectable: sb, ...restB } = b;
  return (
    JSON.stringify(restA) === JSON.stringify(restB) && JSON.stringify([...sa]) === JSON.stringify([...sb])
  );
}
