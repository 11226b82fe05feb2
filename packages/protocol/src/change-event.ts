/**
 * The change object: the one type both services share. Its field names mirror the `data` object of
 * Supabase Realtime's `postgres_changes` push (and the payload of legacy change frames) exactly, so
 * the ingester serialises it once and the gateway splices those bytes into frames unparsed.
 * Internal-only types stay camelCase; wire types keep the external names.
 */

/** Any JSON value. int8 and numeric travel as JSON numbers with PostgreSQL's exact digits. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A row keyed by column name. A column is absent (never a placeholder) when its value is unknown. */
export type Row = Record<string, JsonValue>;

/** The change kinds. TRUNCATE is delivered to legacy channels only (docs/protocol.md). */
export type ChangeType = 'INSERT' | 'UPDATE' | 'DELETE' | 'TRUNCATE';

/** One column of the relation, in table order; clients use `type` to convert values. */
export interface ChangeColumn {
  name: string;
  /** `pg_type.typname`: `int4`, `text`, `_int4`, `timestamptz`, an enum's name… */
  type: string;
}

interface ChangeBase {
  schema: string;
  table: string;
  /** ISO-8601 UTC with PostgreSQL's microseconds and a `Z`, e.g. `2026-11-28T04:30:08.123456Z`. */
  commit_timestamp: string;
  /** `null`, or why some values could not be converted (the change is still delivered). */
  errors: string[] | null;
}

export type ChangeEvent =
  | (ChangeBase & { type: 'INSERT'; columns: ChangeColumn[]; record: Row })
  | (ChangeBase & { type: 'UPDATE'; columns: ChangeColumn[]; record: Row; old_record: Row })
  | (ChangeBase & { type: 'DELETE'; columns: ChangeColumn[]; old_record: Row })
  | (ChangeBase & { type: 'TRUNCATE' });

export const CHANGE_TYPES: readonly ChangeType[] = ['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'];

export function isChangeType(value: unknown): value is ChangeType {
  return value === 'INSERT' || value === 'UPDATE' || value === 'DELETE' || value === 'TRUNCATE';
}
