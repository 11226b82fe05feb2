/**
 * On a Redis Cluster, the ingester's position announcements a gateway listens to: one shard
 * channel per hash slot (positionChannelForSlot), announcing the last position of each batch the
 * ingester wrote to that slot. Changes of different slots travel on different connections and in
 * separate script calls, so nothing orders one slot's messages against another's: a position heard
 * on one slot says nothing about what was missed on another. A subscription's catch-up therefore
 * starts, for a table it has heard nothing of, from the last position heard on the slot of the
 * channel it listens on (the table's topic, or for a schema or `*` subscription the fan-in channel),
 * and the gateway subscribes to the announcements of exactly those slots.
 *
 * The announcement of a slot is a shard channel of that slot, so it arrives on the same connection
 * as the slot's changes, after them: everything of the slot up to the announced position was heard
 * before it. Subscriptions are reference-counted per slot (one per slot however many topics live
 * there) and dropped with the last subscription of the slot.
 *
 * A slot may have had no write since the gateway subscribed (a quiet table, alone on its slot), so
 * before a table topic is subscribed its history's tail is read ({@link tail}): every change of the
 * table published later, the ones a loss may take, comes after it. The read is done first, and the
 * subscription sent only once it answered, so that this holds whatever the timing of a loss.
 */
import type { Bus, BusKey, History } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import {
  fanInChannelForPattern,
  hashSlot,
  parseTopic,
  patternForAll,
  positionChannelForSlot,
} from '@walcast/protocol';
import type { SlotTracker } from './bus-subscriptions';

/** Longest wait for a history tail before a subscription goes ahead without one. */
const SEED_TIMEOUT_MS = 1000;

export class SlotPositions implements SlotTracker {
  private readonly refs = new Map<number, number>();

  constructor(
    private readonly bus: Bus,
    private readonly history: History,
    private readonly log: Logger,
  ) {}

  /**
   * The history's tail of `key`'s table topic (History.tail), to be read before the topic is
   * subscribed; null for other keys, or after SEED_TIMEOUT_MS (Redis slow or away: catch-up then
   * relies on what is heard). Never rejects.
   */
  tail(key: BusKey): Promise<string | null> {
    const topic = key.topic;
    if (topic === undefined || this.slotOf(key) === null) return Promise.resolve(null);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), SEED_TIMEOUT_MS);
    });
    const read = this.history.tail(topic).catch((err: unknown) => {
      this.log.debug({ err, topic }, 'could not read the tail of a history');
      return null;
    });
    return Promise.race([read, timeout]).finally(() => clearTimeout(timer));
  }

  /**
   * The hash slot of the shard channel that carries `key`'s changes: the table topic itself, or the
   * fan-in channel of a schema or `*` pattern; null for keys without changes (broadcast topics).
   */
  slotOf(key: BusKey): number | null {
    if (key.topic !== undefined) return parseTopic(key.topic) ? hashSlot(key.topic) : null;
    if (!key.pattern.startsWith(patternForAll().slice(0, -1))) return null;
    const channel = fanInChannelForPattern(key.pattern);
    return channel === null ? null : hashSlot(channel);
  }

  /** One more subscription listens on `slot`: its announcements are subscribed to with the first. */
  add(slot: number): void {
    const n = this.refs.get(slot) ?? 0;
    this.refs.set(slot, n + 1);
    if (n > 0) return;
    this.bus.subscribe({ topic: positionChannelForSlot(slot) }).catch((err: unknown) => {
      this.log.warn(
        { err, slot, code: 'BusUnavailable' },
        'could not subscribe to the position announcements of a hash slot',
      );
    });
  }

  /** A subscription on `slot` is gone: the announcements are unsubscribed with the last one. */
  remove(slot: number): void {
    const n = this.refs.get(slot) ?? 0;
    if (n > 1) {
      this.refs.set(slot, n - 1);
      return;
    }
    this.refs.delete(slot);
    this.bus.unsubscribe({ topic: positionChannelForSlot(slot) }).catch((err: unknown) => {
      this.log.debug({ err, slot }, 'unsubscribe from a position channel failed');
    });
  }

  /** How many slots' announcements are subscribed to. */
  get size(): number {
    return this.refs.size;
  }
}
