/**
 * The legacy topic grammar of Supabase Realtime 0.x (docs/protocol.md L1), also what a join without
 * `config` means on the modern server (C7, "old API"):
 *
 *   realtime:*                                  every change in every published table
 *   realtime:<schema>                           every change in that schema
 *   realtime:<schema>:<table>                   every change in that table
 *   realtime:<schema>:<table>:<col>=<op>.<v>    changes whose row matches the filter
 *   realtime:<schema>:<table>:<col>.eq.<v>      the README's dot form, an alias of `=eq.`
 *
 * The filter value is the rest of the topic, so it may contain `:`, `.` and `=`.
 */
import { identifierProblem } from './topics';

export const REALTIME_PREFIX = 'realtime:';

export type LegacyTarget =
  | { kind: 'all' }
  | { kind: 'schema'; schema: string }
  | { kind: 'table'; schema: string; table: string; filter: string | null };

export class TopicError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TopicError';
  }
}

/** The part after `realtime:`, or `null` when the topic is not routed to realtime channels. */
export function subtopicOf(topic: string): string | null {
  return topic.startsWith(REALTIME_PREFIX) ? topic.slice(REALTIME_PREFIX.length) : null;
}

/**
 * Parses a legacy subtopic. The filter is returned in the `col=op.value` form (the dot alias is
 * rewritten); checking the operator and value is the filter parser's job.
 */
export function parseLegacySubtopic(subtopic: string): LegacyTarget {
  if (subtopic.length === 0) throw new TopicError('You must provide a topic name');
  if (subtopic === '*') return { kind: 'all' };
  const first = subtopic.indexOf(':');
  if (first < 0) return { kind: 'schema', schema: checkIdentifier('schema', subtopic) };
  const schema = subtopic.slice(0, first);
  const second = subtopic.indexOf(':', first + 1);
  const table = subtopic.slice(first + 1, second < 0 ? undefined : second);
  if (schema.length === 0 || table.length === 0) {
    throw new TopicError(`topic "${REALTIME_PREFIX}${subtopic}" must name a schema and a table`);
  }
  checkIdentifier('schema', schema);
  checkIdentifier('table', table);
  if (second < 0) return { kind: 'table', schema, table, filter: null };
  const rawFilter = subtopic.slice(second + 1);
  if (rawFilter.trim() === '')
    throw new TopicError(`topic "${REALTIME_PREFIX}${subtopic}" has an empty filter`);
  return { kind: 'table', schema, table, filter: normaliseDotForm(rawFilter) };
}

function checkIdentifier(kind: 'schema' | 'table', name: string): string {
  const problem = identifierProblem(kind, name);
  if (problem) throw new TopicError(problem);
  return name;
}

/** `id.eq.99` → `id=eq.99`; anything already holding `=` before its first `.` is left alone. */
function normaliseDotForm(filter: string): string {
  const eq = filter.indexOf('=');
  const dot = filter.indexOf('.');
  if (dot > 0 && (eq < 0 || dot < eq)) {
    const second = filter.indexOf('.', dot + 1);
    if (second > dot + 1) {
      return `${filter.slice(0, dot)}=${filter.slice(dot + 1, second)}.${filter.slice(second + 1)}`;
    }
  }
  return filter;
}
