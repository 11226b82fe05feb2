/**
 * Reference-counted Redis subscriptions: a topic (or pattern) is subscribed when the first local
 * delivery group needs it and unsubscribed when the last one goes. Never `psubscribe` to everything
 * unless a client asked for everything (`realtime:*`).
 *
 * Liveness: an entry becomes live when Redis confirms the subscription or when its first message
 * arrives, whichever is first, and its waiters run synchronously at that moment, before that
 * message is dispatched. A join completed by a waiter therefore sees every message published after
 * its subscription went live, and none before its reply.
 */
import { busKeyId, type Bus, type BusKey } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import { comparePositionTexts } from '@walcast/protocol';

/** A bus message held back while its subscription catches up from the history. */
export interface HeldMessage {
  topic: string;
  message: string;
}

export class BusEntry {
  refs = 0;
  live = false;
  /** Per topic: the last (source, seq) received through this subscription. */
  private readonly lastSeq = new Map<string, { src: string; seq: number }>();
  /** Per topic: the position of the last change passed on (duplicates are recognised by it). */
  private readonly lastPosition = new Map<string, string>();
  /**
   * While the entry catches up from the history (channels/catch-up.ts): the messages that arrived
   * meanwhile, in order; they are passed on afterwards. Null otherwise.
   */
  held: HeldMessage[] | null = null;
  /**
   * On a Redis Cluster, the hash slot of the shard channel this subscription's changes arrive on
   * (slot-positions.ts); null on a single Redis and for broadcast topics.
   */
  slot: number | null = null;
  /**
   * On a Redis Cluster, for a table topic: a position at or after every change of the table
   * published before this subscription was made (SlotTracker.tail), or null.
   */
  baseline: string | null = null;

  private readonly waiters = new Set<() => void>();

  constructor(
    readonly id: string,
    readonly key: BusKey,
  ) {}

  /** Runs `cb` once the entry is live (now, if it is). Returns a function that cancels the wait. */
  whenLive(cb: () => void): () => void {
    if (this.live) {
      cb();
      return () => undefined;
    }
    this.waiters.add(cb);
    return () => this.waiters.delete(cb);
  }

  /**
   * Records `seq` of `src` on `topic` and returns how many changes are missing before it (0 when in
   * sequence). A new source (an ingester restart or failover) starts a new sequence; an older or
   * repeated seq (a duplicate) is not a gap. One record per topic, so memory follows the topics.
   */
  checkSequence(topic: string, src: string, seq: number): number {
    const last = this.lastSeq.get(topic);
    if (!last || last.src !== src) {
      this.lastSeq.set(topic, { src, seq });
      return 0;
    }
    if (seq <= last.seq) return 0;
    const missing = seq - last.seq - 1;
    last.seq = seq;
    return missing;
  }

  /** Forgets the sequences seen (after a reconnect, what came before says nothing about gaps). */
  resetSequences(): void {
    this.lastSeq.clear();
  }

  /** Records (source, seq) of a change taken from the history, so the live stream continues from it. */
  noteSequence(topic: string, src: string, seq: number): void {
    const last = this.lastSeq.get(topic);
    if (!last || last.src !== src || seq > last.seq) this.lastSeq.set(topic, { src, seq });
  }

  /**
   * Records that the change at `position` on `topic` is passed on; false when one at or after it
   * was already (a change published again by a restarted ingester, or read from the history too).
   */
  accept(topic: string, position: string | undefined): boolean {
    if (position === undefined) return true;
    const last = this.lastPosition.get(topic);
    if (last !== undefined && comparePositionTexts(position, last) <= 0) return false;
    this.lastPosition.set(topic, position);
    return true;
  }

  /** The position of the last change of `topic` passed on through this entry, if any. */
  positionOf(topic: string): string | undefined {
    return this.lastPosition.get(topic);
  }

  markLive(): void {
    if (this.live) return;
    this.live = true;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }
}

/** On a Redis Cluster, where catch-up positions come from (slot-positions.ts). */
export interface SlotTracker {
  /** The hash slot `key`'s changes arrive on; null for keys without changes. */
  slotOf(key: BusKey): number | null;
  /** A subscription on `slot` was made, or is gone. */
  add(slot: number): void;
  remove(slot: number): void;
  /** For a table topic, its history's tail, read before it is subscribed (never rejects). */
  tail(key: BusKey): Promise<string | null>;
}

export class BusSubscriptions {
  private readonly entries = new Map<string, BusEntry>();

  constructor(
    private readonly bus: Bus,
    private readonly log: Logger,
    /** On a Redis Cluster: the position announcements of the slots subscribed to; else null. */
    private readonly positions: SlotTracker | null = null,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(id: string): BusEntry | undefined {
    return this.entries.get(id);
  }

  /** Every live subscription entry. */
  all(): IterableIterator<BusEntry> {
    return this.entries.values();
  }

  /** How many distinct subscriptions `keys` would add to those held. */
  missing(keys: readonly BusKey[]): number {
    const ids = new Set(keys.map(busKeyId));
    let n = 0;
    for (const id of ids) if (!this.entries.has(id)) n++;
    return n;
  }

  acquire(key: BusKey): BusEntry {
    const id = busKeyId(key);
    let entry = this.entries.get(id);
    if (!entry) {
      entry = new BusEntry(id, key);
      this.entries.set(id, entry);
      entry.slot = this.positions?.slotOf(key) ?? null;
      if (entry.slot !== null) this.positions!.add(entry.slot);
      this.subscribe(entry);
    }
    entry.refs++;
    return entry;
  }

  release(entry: BusEntry): void {
    entry.refs--;
    if (entry.refs > 0 || this.entries.get(entry.id) !== entry) return;
    this.entries.delete(entry.id);
    if (entry.slot !== null) this.positions?.remove(entry.slot);
    this.bus.unsubscribe(entry.key).catch((err: unknown) => {
      // Harmless: a stale subscription only delivers messages no group wants; they are dropped.
      this.log.debug({ err, topic: entry.id }, 'unsubscribe failed');
    });
  }

  private subscribe(entry: BusEntry): void {
    const seeded =
      entry.slot !== null && this.positions
        ? this.positions.tail(entry.key).then((tail) => {
            entry.baseline = tail;
          })
        : null;
    const subscribe = (): void => {
      if (this.entries.get(entry.id) !== entry) return; // released while its history was read
      this.bus.subscribe(entry.key).then(
        () => entry.markLive(),
        (err: unknown) => this.log.warn({ err, topic: entry.id, code: 'BusUnavailable' }, 'subscribe failed'),
      );
    };
    if (seeded) void seeded.then(subscribe);
    else subscribe();
  }
}
