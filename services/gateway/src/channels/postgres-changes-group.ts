/**
 * Delivery for modern channels (a join with `config`): one `postgres_changes` frame per change per
 * channel, `{"ids": [...], "data": <change>}`, where `ids` are this channel's bindings that match
 * (docs/protocol.md M3). TRUNCATE is never sent to these clients (M3). DELETE is matched
 * against `old_record`. A binding with `select` gets the change projected to those columns plus
 * the primary key, rebuilt from the ingester's bytes.
 *
 * A change reaching the group through several subscriptions (a table topic and a schema pattern)
 * is matched, each time, only against the bindings of the subscription it came through, so each
 * binding fires once.
 */
import { PhoenixEvents, comparePositionTexts, v1Codec, v2Codec } from '@walcast/protocol';
import type { BusEntry } from './bus-subscriptions';
import { DeliveryGroup, matchesFilter, type Fanout, type IncomingChange } from './delivery-group';
import type { Binding } from './postgres-changes-binding';
import { joinMembers, objectMembers } from './raw-json';

const CODECS = [v1Codec, v2Codec] as const;

export interface BoundBinding extends Binding {
  entry: BusEntry;
}

export class PostgresChangesGroup extends DeliveryGroup {
  constructor(
    key: string,
    readonly topic: string,
    entries: BusEntry[],
    private readonly bindings: readonly BoundBinding[],
  ) {
    super(key, entries);
  }

  equalityFor(via: BusEntry): { column: string; value: string } | null {
    let common: { column: string; value: string } | null = null;
    for (const b of this.bindings) {
      if (b.entry !== via) continue;
      const eq = b.filter.singleEquality;
      if (!eq || (common && (common.column !== eq.column || common.value !== eq.value))) return null;
      common = eq;
    }
    return common;
  }

  deliver(change: IncomingChange, fanout: Fanout, via: BusEntry): void {
    const { type } = change.header;
    if (type === 'TRUNCATE') return;
    const matching = this.bindings.filter((b) => b.entry === via && this.matches(b, change));
    if (matching.length === 0) return;
    // Bindings with the same projection share one frame.
    const bySelect = new Map<string, BoundBinding[]>();
    for (const b of matching) {
      const key = b.select ? JSON.stringify(b.select) : '';
      bySelect.set(key, [...(bySelect.get(key) ?? []), b]);
    }
    this.authorized(change, (eventJson, selectable) => {
      for (const [key, all] of bySelect) {
        // Bindings naming a column the identity may not read (revoked since the join) match nothing.
        const bindings = selectable ? all.filter((b) => b.columns.every((c) => selectable.has(c))) : all;
        if (bindings.length === 0) continue;
        const data = key === '' ? eventJson : project(eventJson, change.header.pk, bindings[0]!.select!);
        const payload = `{"ids":[${bindings.map((b) => b.id).join(',')}],"data":${data}}`;
        this.publishToMembers(
          fanout,
          CODECS,
          (codec) =>
            codec.encodeWithRawPayload(
              { joinRef: null, ref: null, topic: this.topic, event: PhoenixEvents.postgresChanges },
              payload,
            ),
          change,
        );
      }
    });
  }

  /**
   * The same channel for replaying the history to one resuming socket: only the bindings that asked
   * for it, each matching only changes after its own `since` (sinceById: binding id → position).
   */
  replayCopy(sinceById: ReadonlyMap<number, string>): PostgresChangesGroup {
    const bindings = this.bindings
      .filter((b) => sinceById.has(b.id))
      .map((b) => ({ ...b, since: sinceById.get(b.id)! }));
    return new PostgresChangesGroup(`${this.key}|replay`, this.topic, [...this.busEntries], bindings);
  }

  private matches(b: BoundBinding, change: IncomingChange): boolean {
    if (b.since !== null) {
      const pos = change.header.pos;
      if (pos === undefined || comparePositionTexts(pos, b.since) <= 0) return false;
    }
    if (b.event !== '*' && b.event !== change.header.type) return false;
    if (b.schema !== '*' && b.schema !== change.schema) return false;
    if (b.table !== '*' && b.table !== change.table) return false;
    return b.filter.isEmpty || matchesFilter(b.filter, change);
  }
}

/** The change with only the selected columns (and the primary key) in `columns`, `record`, `old_record`. */
function project(eventJson: string, pk: readonly string[] | undefined, select: readonly string[]): string {
  const keep = new Set([...select, ...(pk ?? [])]);
  const members = objectMembers(eventJson).map(([key, raw]): [string, string] => {
    if (key === 'record' || key === 'old_record') {
      return [key, joinMembers(objectMembers(raw).filter(([column]) => keep.has(column)))];
    }
    if (key === 'columns') {
      const columns = JSON.parse(raw) as Array<{ name: string }>;
      return [key, JSON.stringify(columns.filter((c) => keep.has(c.name)))];
    }
    return [key, raw];
  });
  return joinMembers(members);
}
