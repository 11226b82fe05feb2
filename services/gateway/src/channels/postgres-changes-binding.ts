/**
 * One entry of a modern join's `config.postgres_changes` (docs/protocol.md M1–M4): validated, with
 * its numeric id, the Redis subscription it needs, and its row filter.
 *
 * The id is a hash of the entry exactly as the client sent it (equal entries get equal ids, as in
 * the reference server), below 2^27; the join reply echoes the entry verbatim plus the id.
 */
import {
  formatPosition,
  identifierProblem,
  parsePosition,
  patternForAll,
  patternForSchema,
  topicForTable,
  type ChangeType,
} from '@walcast/protocol';
import type { BusKey } from '@walcast/bus';
import { FilterError, parseFilter } from '../filters/filter-parser';
import { RowFilter } from '../filters/row-filter';

export interface Binding {
  id: number;
  event: ChangeType | '*';
  /** `*` for any. */
  schema: string;
  /** `*` for any. */
  table: string;
  filter: RowFilter;
  /** Columns to keep (the primary key is always kept), or null for all. */
  select: string[] | null;
  /** Every column the binding names (its filter's and its `select`'s): all must be readable. */
  columns: readonly string[];
  busKey: BusKey;
  /** `since`: replay the changes after this position first (its canonical text), or null. */
  since: string | null;
}

/**
 * FNV-1a over the entry's JSON text, folded to 27 bits. `since` is left out: it says where this
 * channel resumes, not what it receives, so channels that resume from different places share their
 * delivery group.
 */
export function bindingId(entry: unknown): number {
  let subject = entry;
  if (typeof entry === 'object' && entry !== null && !Array.isArray(entry) && 'since' in entry) {
    const { since: _since, ...rest } = entry as Record<string, unknown>;
    subject = rest;
  }
  const text = JSON.stringify(subject) ?? 'null';
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash & 0x7ffffff;
}

const EVENTS = new Set(['*', 'INSERT', 'UPDATE', 'DELETE']);

const unableToSubscribe = (why: string): { error: string } => ({
  error: `Unable to subscribe to changes with given parameters: ${why}`,
});

/**
 * A binding, or the `system` error message explaining why the entry cannot be served. A filter
 * longer than `maxFilterBytes` is refused before it is parsed.
 */
export function parseBinding(entry: unknown, maxFilterBytes = Infinity): Binding | { error: string } {
  const id = bindingId(entry);
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    return {
      error: `Unable to subscribe to changes with given parameters: ${JSON.stringify(entry)} is not an object`,
    };
  }
  const e = entry as Record<string, unknown>;
  const event = e.event === undefined ? '*' : typeof e.event === 'string' ? e.event.toUpperCase() : '';
  if (!EVENTS.has(event)) {
    return {
      error: `Unable to subscribe to changes with given parameters: unknown event ${JSON.stringify(e.event)}`,
    };
  }
  const hasSchema = typeof e.schema === 'string' && e.schema !== '';
  const hasTable = typeof e.table === 'string' && e.table !== '';
  if (!hasSchema && !hasTable) {
    return {
      error: `No subscription params provided. Please provide at least a \`schema\` or \`table\` to subscribe to: ${JSON.stringify(entry)}`,
    };
  }
  const schema = hasSchema ? (e.schema as string) : 'public';
  const table = hasTable ? (e.table as string) : '*';
  const badName =
    (schema === '*' ? null : identifierProblem('schema', schema)) ??
    (table === '*' ? null : identifierProblem('table', table));
  if (badName) return unableToSubscribe(badName);
  if (typeof e.filter === 'string' && Buffer.byteLength(e.filter, 'utf8') > maxFilterBytes) {
    return unableToSubscribe(`\`filter\` is longer than ${maxFilterBytes} bytes (MAX_FILTER_LENGTH)`);
  }
  let filter: RowFilter;
  try {
    filter = new RowFilter(typeof e.filter === 'string' ? parseFilter(e.filter) : []);
  } catch (err) {
    if (err instanceof FilterError) return { error: err.message };
    throw err;
  }
  if (e.filter !== undefined && e.filter !== null && typeof e.filter !== 'string') {
    return { error: `Error parsing \`filter\` params: ${JSON.stringify([String(e.filter)])}` };
  }
  let select: string[] | null = null;
  if (e.select !== undefined && e.select !== null) {
    if (!Array.isArray(e.select) || !e.select.every((c) => typeof c === 'string')) {
      return {
        error:
          'Unable to subscribe to changes with given parameters: `select` must be a list of column names',
      };
    }
    if (schema === '*' || table === '*') {
      return {
        error:
          'Unable to subscribe to changes with given parameters: `select` needs a specific schema and table',
      };
    }
    select = e.select;
  }
  const busKey: BusKey =
    schema === '*'
      ? { pattern: patternForAll() }
      : table === '*'
        ? { pattern: patternForSchema(schema) }
        : { topic: topicForTable(schema, table) };
  let since: string | null = null;
  if (e.since !== undefined && e.since !== null) {
    const position = parsePosition(e.since);
    if (!position) {
      return unableToSubscribe(
        `\`since\` must be a position as received in \`data.position\` (like 00000000016B3748-00000000)`,
      );
    }
    since = formatPosition(position.lsn, position.index);
  }
  const columns = [...new Set([...filter.conditions.map((c) => c.column), ...(select ?? [])])];
  return { id, event: event as Binding['event'], schema, table, filter, select, columns, busKey, since };
}
