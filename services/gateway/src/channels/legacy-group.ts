/**
 * Delivery for legacy channels (realtime-js 1.x, and any join without `config`): frames named after
 * the change type (`INSERT`, `UPDATE`, `DELETE`, `TRUNCATE`) with the change object as payload, the
 * event text spliced unparsed. A filtered topic matches INSERT/UPDATE on `record` and DELETE on
 * `old_record`; TRUNCATE has no row and reaches only unfiltered channels.
 */
import { v1Codec, v2Codec } from '@walcast/protocol';
import type { RowFilter } from '../filters/row-filter';
import type { BusEntry } from './bus-subscriptions';
import { DeliveryGroup, matchesFilter, type Fanout, type IncomingChange } from './delivery-group';

const CODECS = [v1Codec, v2Codec] as const;

export class LegacyGroup extends DeliveryGroup {
  constructor(
    readonly topic: string,
    private readonly busEntry: BusEntry,
    private readonly filter: RowFilter,
    /** Distinguishes groups of the same topic read as different identities. */
    identityKey = '',
  ) {
    super(identityKey === '' ? `legacy|${topic}` : `legacy|${topic}|${identityKey}`, [busEntry]);
  }

  /** The same channel for replaying the history to one resuming socket. */
  replayCopy(): LegacyGroup {
    return new LegacyGroup(this.topic, this.busEntry, this.filter, `${this.key}|replay`);
  }

  equalityFor(): { column: string; value: string } | null {
    return this.filter.singleEquality;
  }

  deliver(change: IncomingChange, fanout: Fanout): void {
    const { type } = change.header;
    if (!this.filter.isEmpty) {
      if (type === 'TRUNCATE' || !matchesFilter(this.filter, change)) return;
    }
    this.authorized(change, (eventJson, selectable) => {
      // A filter on a column the identity may not read (a grant revoked since the join) matches nothing.
      if (selectable && !this.filter.conditions.every((c) => selectable.has(c.column))) return;
      this.publishToMembers(
        fanout,
        CODECS,
        (codec) =>
          codec.encodeWithRawPayload({ joinRef: null, ref: null, topic: this.topic, event: type }, eventJson),
        change,
      );
    });
  }
}
