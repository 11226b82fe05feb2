/**
 * Reading a change's row id from what an observer received. The workload's table has an integer
 * primary key `id`, its first column, which every count is keyed by.
 */
import { decodeBusMessage } from '@walcast/protocol';

/** Reads the integer `id` of an event's `record`; null when there is none. */
export function recordId(event: unknown): number | null {
  if (typeof event !== 'object' || event === null) return null;
  const record = (event as { record?: unknown }).record;
  if (typeof record !== 'object' || record === null) return null;
  const id = (record as { id?: unknown }).id;
  return typeof id === 'number' ? id : null;
}

/**
 * The row id of a change, read without parsing the whole text when the record starts with `id`
 * (the ingester writes columns in table order, and `id` is the first column of the workload's
 * table): a million-row scenario is otherwise dominated by the observers' own JSON parsing.
 */
const FAST_ID = /"record":\{"id":(\d+)[,}]/;

export function fastRecordId(text: string): number | null | undefined {
  const match = FAST_ID.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** The row id of a bus message as Redis carries it (null: no id); throws when it is malformed. */
export function busMessageRecordId(text: string): number | null {
  const { eventJson } = decodeBusMessage(text);
  return fastRecordId(eventJson) ?? recordId(JSON.parse(eventJson));
}
