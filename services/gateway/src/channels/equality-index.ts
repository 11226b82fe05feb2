/**
 * Finds the delivery groups of one bus subscription that may want a change without asking every
 * one of them. Groups whose filter is a single `column=eq.value` (the common shape: one row per
 * subscriber) are indexed by value; the rest are scanned. So matching a change costs about the same
 * with 10 or 10,000 `id=eq.<n>` subscribers (issue: matching cost must not grow with subscriptions
 * that cannot match).
 *
 * The value key depends on the column's type, which the gateway learns only from changes, so each
 * column keeps one map per type name, built on first use and kept up to date as groups come and go.
 * A candidate is still matched in full by its group: the index only narrows.
 */
import type { JsonValue } from '@walcast/protocol';
import { equalityKey } from '../filters/row-filter';
import { columnTypeOf, rowToFilter, type DeliveryGroup, type IncomingChange } from './delivery-group';

interface ColumnIndex {
  /** Every indexed group on this column, with its filter value. */
  groups: Map<DeliveryGroup, string>;
  /** Per column type name: key → groups. */
  byType: Map<string, Map<string, Set<DeliveryGroup>>>;
}

export class EqualityIndex {
  private readonly scanned = new Set<DeliveryGroup>();
  private readonly columns = new Map<string, ColumnIndex>();

  add(group: DeliveryGroup, equality: { column: string; value: string } | null): void {
    if (!equality) {
      this.scanned.add(group);
      return;
    }
    let column = this.columns.get(equality.column);
    if (!column) {
      column = { groups: new Map(), byType: new Map() };
      this.columns.set(equality.column, column);
    }
    column.groups.set(group, equality.value);
    for (const [type, map] of column.byType) insert(map, equalityKey(equality.value, type), group);
  }

  delete(group: DeliveryGroup): void {
    if (this.scanned.delete(group)) return;
    for (const [name, column] of this.columns) {
      const value = column.groups.get(group);
      if (value === undefined) continue;
      column.groups.delete(group);
      for (const [type, map] of column.byType) {
        const key = equalityKey(value, type);
        if (key !== null) map.get(key)?.delete(group);
      }
      if (column.groups.size === 0) this.columns.delete(name);
    }
  }

  get size(): number {
    let n = this.scanned.size;
    for (const column of this.columns.values()) n += column.groups.size;
    return n;
  }

  /** Every group that may want `change`, each once. Throws (before returning any) if the event cannot be parsed. */
  candidates(change: IncomingChange): DeliveryGroup[] {
    const out = [...this.scanned];
    this.forIndexed(change, (group) => out.push(group));
    return out;
  }

  private forIndexed(change: IncomingChange, visit: (group: DeliveryGroup) => void): void {
    if (this.columns.size === 0 || change.header.type === 'TRUNCATE') return;
    const row = rowToFilter(change);
    if (!row) return;
    for (const [name, column] of this.columns) {
      if (!Object.prototype.hasOwnProperty.call(row, name)) continue;
      const value = row[name] as JsonValue;
      if (value === null) continue;
      const type = columnTypeOf(change, name) ?? '';
      const key = equalityKey(value, type);
      if (key === null) continue;
      const groups = this.mapFor(column, type).get(key);
      if (groups) for (const group of groups) visit(group);
    }
  }

  private mapFor(column: ColumnIndex, type: string): Map<string, Set<DeliveryGroup>> {
    let map = column.byType.get(type);
    if (!map) {
      map = new Map();
      for (const [group, value] of column.groups) insert(map, equalityKey(value, type), group);
      column.byType.set(type, map);
    }
    return map;
  }
}

function insert(map: Map<string, Set<DeliveryGroup>>, key: string | null, group: DeliveryGroup): void {
  if (key === null) return; // this value can never equal a value of this type
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  set.add(group);
}
