/**
 * Evaluates parsed filter conditions against a row, comparing as PostgreSQL would for the column's
 * type (`columns[].type` of the change): numbers numerically, timestamps and dates as instants,
 * booleans as booleans, uuids case-insensitively, everything else as text.
 *
 * SQL three-valued logic: a NULL (or absent) column matches only `is.null` / `is.unknown`, and
 * `isdistinct` against a non-null value; `not.` of an unknown comparison is still no match.
 * A filter value that cannot be cast to the column's type never matches.
 * int8/numeric beyond 2^53 are compared as doubles (documented in docs/protocol.md).
 */
import type { JsonValue, Row } from '@walcast/protocol';
import type { FilterCondition } from './filter-parser';

export type Kind = 'number' | 'bool' | 'instant' | 'uuid' | 'text';

const NUMBER_TYPES = new Set(['int2', 'int4', 'int8', 'float4', 'float8', 'numeric', 'oid']);
const INSTANT_TYPES = new Set(['timestamp', 'timestamptz', 'date']);

export function kindOfType(type: string | undefined): Kind {
  if (type === undefined) return 'text';
  if (NUMBER_TYPES.has(type)) return 'number';
  if (type === 'bool') return 'bool';
  if (INSTANT_TYPES.has(type)) return 'instant';
  if (type === 'uuid') return 'uuid';
  return 'text';
}

/** Microseconds since the epoch of an ISO date or timestamp (with or without offset; none = UTC); `null` if not one. */
export function parseInstant(text: string): number | null {
  const m =
    /^(\d{4,})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2}(?::?\d{2})?)?)?$/i.exec(
      text.trim(),
    );
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(
    Date.UTC(2000, month - 1, day, Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)),
  );
  date.setUTCFullYear(year); // Date.UTC maps years 0–99 to 1900–1999
  const ms = date.getTime();
  // An impossible date (2021-02-30) rolls over in JavaScript; PostgreSQL would refuse it.
  if (Number.isNaN(ms) || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  const micros = Number((m[7] ?? '').padEnd(6, '0'));
  let offsetMs = 0;
  const tz = m[8];
  if (tz && tz.toUpperCase() !== 'Z') {
    const digits = tz.slice(1).replace(/:/g, '');
    offsetMs =
      (Number(digits.slice(0, 2)) * 3600 +
        Number(digits.slice(2, 4) || 0) * 60 +
        Number(digits.slice(4, 6) || 0)) *
      1000;
    if (tz[0] === '-') offsetMs = -offsetMs;
  }
  return (ms - offsetMs) * 1000 + micros;
}

type Scalar = number | boolean | string;

/** A JSON value as a comparable scalar of `kind`; `null` when it cannot be one. */
export function castValue(value: JsonValue, kind: Kind): Scalar | null {
  switch (kind) {
    case 'number': {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && value.trim() !== ''
            ? Number(value)
            : NaN;
      return Number.isNaN(n) ? null : n;
    }
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (typeof value !== 'string') return null;
      return ['t', 'true', 'yes', 'on', '1', 'y'].includes(value.toLowerCase())
        ? true
        : ['f', 'false', 'no', 'off', '0', 'n'].includes(value.toLowerCase())
          ? false
          : null;
    case 'instant':
      return typeof value === 'string' ? parseInstant(value) : null;
    case 'uuid':
      // PostgreSQL reads uuids case-insensitively (and prints them in lower case).
      return typeof value === 'string' ? value.toLowerCase() : null;
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

function compare(a: Scalar, b: Scalar): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One condition, with its value cast once per column type. */
class CompiledCondition {
  private readonly casts = new Map<Kind, { value: Scalar | null; values: Array<Scalar | null> }>();

  constructor(readonly condition: FilterCondition) {}

  matches(row: Row, type: string | undefined): boolean {
    const c = this.condition;
    const raw = Object.prototype.hasOwnProperty.call(row, c.column) ? row[c.column] : undefined;
    if (c.op === 'is') {
      const isNull = raw === null || raw === undefined;
      let result: boolean;
      if (c.value === 'null' || c.value === 'unknown') result = isNull;
      else if (isNull)
        return c.negate; // NULL IS [NOT] TRUE/FALSE is a definite answer in SQL
      else result = castValue(raw, 'bool') === (c.value === 'true');
      return c.negate ? !result : result;
    }
    const kind = kindOfType(type);
    const cast = this.castFor(kind);
    if (raw === null || raw === undefined) {
      // Only IS DISTINCT FROM has a definite answer against NULL.
      return c.op === 'isdistinct' ? !c.negate : false;
    }
    const value = castValue(raw, kind);
    if (value === null) return false;
    const result = this.evaluate(value, typeof raw === 'string' ? raw : JSON.stringify(raw), cast);
    if (result === null) return false;
    return c.negate ? !result : result;
  }

  private evaluate(
    value: Scalar,
    text: string,
    cast: { value: Scalar | null; values: Array<Scalar | null> },
  ): boolean | null {
    const c = this.condition;
    switch (c.op) {
      case 'in':
        return cast.values.some((v) => v !== null && compare(value, v) === 0);
      case 'like':
      case 'ilike':
      case 'match':
      case 'imatch':
        return c.pattern!.test(text);
      default: {
        if (cast.value === null) return null;
        const cmp = compare(value, cast.value);
        switch (c.op) {
          case 'eq':
            return cmp === 0;
          case 'neq':
          case 'isdistinct':
            return cmp !== 0;
          case 'lt':
            return cmp < 0;
          case 'lte':
            return cmp <= 0;
          case 'gt':
            return cmp > 0;
          case 'gte':
            return cmp >= 0;
          default:
            return null;
        }
      }
    }
  }

  private castFor(kind: Kind): { value: Scalar | null; values: Array<Scalar | null> } {
    let cast = this.casts.get(kind);
    if (!cast) {
      cast = {
        value: castValue(this.condition.value, kind),
        values: this.condition.values.map((v) => castValue(v, kind)),
      };
      this.casts.set(kind, cast);
    }
    return cast;
  }
}

/** All conditions of one filter (AND). */
export class RowFilter {
  private readonly compiled: CompiledCondition[];

  constructor(readonly conditions: readonly FilterCondition[]) {
    this.compiled = conditions.map((c) => new CompiledCondition(c));
  }

  get isEmpty(): boolean {
    return this.compiled.length === 0;
  }

  /** `{column, value}` when the filter is exactly one plain `eq` (indexable by value), else null. */
  get singleEquality(): { column: string; value: string } | null {
    const only = this.conditions.length === 1 ? this.conditions[0]! : null;
    return only && only.op === 'eq' && !only.negate ? { column: only.column, value: only.value } : null;
  }

  /** `typeOf(column)` gives the column's PostgreSQL type name, when the change says. */
  matches(row: Row | undefined, typeOf: (column: string) => string | undefined): boolean {
    if (this.compiled.length === 0) return true;
    if (!row) return false;
    for (const c of this.compiled) if (!c.matches(row, typeOf(c.condition.column))) return false;
    return true;
  }
}

/**
 * A string that equal values of one column type share: two values that `eq` would call equal get
 * the same key (the converse need not hold; the filter is evaluated afterwards). `null` when the
 * value cannot be cast to the type.
 */
export function equalityKey(value: JsonValue, type: string | undefined): string | null {
  const kind = kindOfType(type);
  const scalar = castValue(value, kind);
  if (scalar === null) return null;
  return `${kind}:${String(scalar)}`;
}
