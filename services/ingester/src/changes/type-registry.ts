/**
 * The types the value decoder knows: PostgreSQL's built-ins plus user types (enums, domains,
 * composites, extension base types, and arrays of any of them) learned at run time from the
 * catalog.
 *
 * Lifecycle: the ingester sees a column type OID it does not know (`unknownOids`), runs
 * `TYPE_CATALOG_SQL` with those OIDs, and passes each row through `typeRegistrationFromRow` to
 * `register`. Lookups (`get`) are then a single map read on the hot path.
 *
 * Invariants:
 * - Built-in OIDs are fixed: `register` never replaces them.
 * - A domain converts like its base type (resolved through domains over domains), but keeps its
 *   own name. An array converts each element by its element type, whatever that type is.
 */
import { builtinType, type PgTypeInfo } from './pg-types';

/** `pg_type.typtype`: base, composite, domain, enum, pseudo, range, multirange. */
export type TypType = 'b' | 'c' | 'd' | 'e' | 'p' | 'r' | 'm';

/** One user type as described by the catalog (see `TYPE_CATALOG_SQL`). */
export interface TypeRegistration {
  oid: number;
  /** `pg_type.typname` */
  name: string;
  typtype: TypType;
  /** `pg_type.typcategory`, e.g. `A` for arrays, `E` for enums. */
  category: string;
  /** `pg_type.typelem` when it is not 0. */
  elementOid?: number;
  /** `pg_type.typbasetype` of a domain, when it is not 0. */
  baseOid?: number;
  /** `pg_type.typdelim`; for an array, the delimiter is taken from the element type. */
  delimiter?: string;
}

/**
 * Fetches the given type OIDs (`$1`, an `oid[]`) and, transitively, the element and base types
 * they depend on, so that one round trip is enough to convert every value of those types.
 * Each row maps to `register` input with `typeRegistrationFromRow`.
 */
export const TYPE_CATALOG_SQL = `with recursive wanted(oid) as (
  select unnest($1::oid[])
  union
  select dep.oid from wanted
    join pg_type t on t.oid = wanted.oid
    cross join lateral (values (t.typelem), (t.typbasetype)) as dep(oid)
  where dep.oid <> 0
)
select t.oid, t.typname, t.typtype, t.typcategory, t.typelem, t.typbasetype, t.typdelim
from pg_type t join wanted on wanted.oid = t.oid`;

/** A row of `TYPE_CATALOG_SQL` as the `pg` driver returns it (OIDs may arrive as numbers or strings). */
export interface TypeCatalogRow {
  oid: number | string;
  typname: string;
  typtype: string;
  typcategory: string;
  typelem: number | string;
  typbasetype: number | string;
  typdelim: string;
}

const TYPTYPES: ReadonlySet<string> = new Set(['b', 'c', 'd', 'e', 'p', 'r', 'm']);

/**
 * Maps one `TYPE_CATALOG_SQL` row to `register` input. Zero OIDs become absent fields. Throws
 * `TypeError` on a row that is not a `pg_type` row (an unknown `typtype` or a non-numeric OID).
 */
export function typeRegistrationFromRow(row: TypeCatalogRow): TypeRegistration {
  const oid = Number(row.oid);
  const elementOid = Number(row.typelem);
  const baseOid = Number(row.typbasetype);
  if (!Number.isInteger(oid) || !Number.isInteger(elementOid) || !Number.isInteger(baseOid)) {
    throw new TypeError(`pg_type row with a non-numeric oid: ${JSON.stringify(row)}`);
  }
  if (!TYPTYPES.has(row.typtype)) throw new TypeError(`pg_type row with unknown typtype ${row.typtype}`);
  const registration: TypeRegistration = {
    oid,
    name: row.typname,
    typtype: row.typtype as TypType,
    category: row.typcategory,
  };
  if (elementOid !== 0) registration.elementOid = elementOid;
  if (baseOid !== 0) registration.baseOid = baseOid;
  if (row.typdelim !== '') registration.delimiter = row.typdelim;
  return registration;
}

/** `box`, the only built-in type whose `typdelim` is not `,`. */
const BOX_OID = 603;

/** Domains over domains deeper than this are treated as cyclic (PostgreSQL forbids cycles). */
const MAX_DOMAIN_DEPTH = 32;

/**
 * Built-in plus run-time-registered PostgreSQL types. Not thread-shared state: one instance per
 * replication connection. `get` is safe to call on every value.
 */
export class TypeRegistry {
  private readonly registered = new Map<number, TypeRegistration>();
  /** Resolved user types; emptied by every `register`, refilled lazily by `get`. */
  private readonly resolved = new Map<number, PgTypeInfo>();

  /**
   * Learns (or re-learns, e.g. after `ALTER DOMAIN`) a user type. Registrations for built-in OIDs
   * are ignored. Dependencies may be registered in any order.
   */
  register(info: TypeRegistration): void {
    if (builtinType(info.oid) !== undefined) return;
    this.registered.set(info.oid, { ...info });
    this.resolved.clear();
  }

  /**
   * How to convert values of this type, or `undefined` if the OID is neither built in nor
   * registered. A registered domain whose base type is not known yet converts as `text`.
   */
  get(oid: number): PgTypeInfo | undefined {
    return builtinType(oid) ?? this.resolved.get(oid) ?? this.resolve(oid);
  }

  /** Whether `get(oid)` returns a type. */
  has(oid: number): boolean {
    return builtinType(oid) !== undefined || this.registered.has(oid);
  }

  /**
   * The OIDs, among `oids` and the element and base types they depend on, that this registry
   * does not know, without duplicates. Empty means every value of those types converts exactly.
   */
  unknownOids(oids: readonly number[]): number[] {
    const missing = new Set<number>();
    const seen = new Set<number>();
    const pending = [...oids];
    for (let oid = pending.pop(); oid !== undefined; oid = pending.pop()) {
      if (seen.has(oid)) continue;
      seen.add(oid);
      const builtin = builtinType(oid);
      if (builtin !== undefined) {
        if (builtin.elementOid !== undefined) pending.push(builtin.elementOid);
        continue;
      }
      const reg = this.registered.get(oid);
      if (reg === undefined) {
        missing.add(oid);
        continue;
      }
      if (reg.elementOid !== undefined) pending.push(reg.elementOid);
      if (reg.baseOid !== undefined) pending.push(reg.baseOid);
    }
    return [...missing];
  }

  private resolve(oid: number): PgTypeInfo | undefined {
    const reg = this.registered.get(oid);
    if (reg === undefined) return undefined;
    const info = Object.freeze(this.describe(reg));
    this.resolved.set(oid, info);
    return info;
  }

  private describe(reg: TypeRegistration): PgTypeInfo {
    if (reg.typtype === 'd') {
      const base = this.domainBase(reg);
      const info: PgTypeInfo = { oid: reg.oid, name: reg.name, kind: base?.kind ?? 'text' };
      if (base?.elementOid !== undefined) info.elementOid = base.elementOid;
      if (base?.delimiter !== undefined) info.delimiter = base.delimiter;
      return info;
    }
    if (reg.typtype === 'b' && reg.category === 'A' && reg.elementOid !== undefined) {
      return this.arrayOf(reg.oid, reg.name, reg.elementOid);
    }
    return { oid: reg.oid, name: reg.name, kind: 'text' };
  }

  /** The non-domain type a domain stands on, following domains over domains. */
  private domainBase(domain: TypeRegistration): PgTypeInfo | undefined {
    let baseOid = domain.baseOid;
    for (let depth = 0; baseOid !== undefined && depth < MAX_DOMAIN_DEPTH; depth++) {
      const builtin = builtinType(baseOid);
      if (builtin !== undefined) return builtin;
      const reg = this.registered.get(baseOid);
      if (reg === undefined) return undefined;
      if (reg.typtype !== 'd') return this.describe(reg);
      baseOid = reg.baseOid;
    }
    return undefined;
  }

  private arrayOf(oid: number, name: string, elementOid: number): PgTypeInfo {
    const info: PgTypeInfo = { oid, name, kind: 'array', elementOid };
    const delimiter = this.elementDelimiter(elementOid);
    if (delimiter !== ',') info.delimiter = delimiter;
    return info;
  }

  /** The `typdelim` of an element type (every built-in element type uses `,` except box's `;`). */
  private elementDelimiter(elementOid: number): string {
    if (elementOid === BOX_OID) return ';';
    return this.registered.get(elementOid)?.delimiter ?? ',';
  }
}
