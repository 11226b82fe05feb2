/**
 * The row a compiled policy predicate reads, from the change's `record` (or `old_record`) JSON
 * text as the ingester wrote it: values parsed, except integers that a JavaScript number cannot
 * hold exactly (int8 beyond 2^53), which stay as their decimal text so comparisons stay exact.
 */
import type { Row } from '@walcast/protocol';

import { objectMembers } from '../channels/raw-json';

const INTEGER = /^-?[0-9]+$/;

/** `recordJson` (a JSON object) as a {@link Row} for `RowPredicate`. */
export function policyRow(recordJson: string): Row {
  const row: Row = {};
  for (const [key, raw] of objectMembers(recordJson)) {
    const value = JSON.parse(raw) as Row[string];
    const exact =
      typeof value === 'number' && INTEGER.test(raw) && !Number.isSafeInteger(value) ? raw : value;
    // defined, not assigned: a column called `__proto__` must stay a plain member
    Object.defineProperty(row, key, { value: exact, enumerable: true, writable: true, configurable: true });
  }
  return row;
}
