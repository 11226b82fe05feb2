/**
 * Catching up from the change history instead of ending channels. Redis pub/sub keeps nothing for a
 * subscriber that is away, so when this gateway loses Redis, or sees a gap in an ingester's
 * sequence, its subscriptions may have missed changes. With a history (the ingester's HISTORY),
 * each affected subscription (a BusEntry) holds the messages that keep arriving, reads what it
 * missed from the history and passes it on in order, then passes on what it held: its channels see
 * every change, once, in order per table. Only when the history cannot tell (it no longer covers
 * the gap, Redis lost its data, a read fails) are its channels told, as before, with `phx_error`.
 *
 * Where a subscription resumes: for a table it has passed changes of, right after the last one;
 * otherwise (a table of a schema or `*` subscription it has not heard of, a quiet table) after the
 * last position this gateway heard before the connection broke, from any change or from the
 * ingester's announcements on POSITION_CHANNEL. Messages on one Redis connection arrive in the
 * order they were published, so nothing published before that position was missed. On a Redis
 * Cluster only the messages of one hash slot are ordered (slot-positions.ts), so that position is
 * the last one heard on the slot the subscription listens on (BusEntry.slot): from its changes or
 * from the ingester's announcements for that slot; for a table topic, no earlier than the tail its
 * history had when it was subscribed (BusEntry.baseline).
 *
 * Invariants:
 * - A subscription holds from the moment Redis is lost (or the gap is seen) until its catch-up
 *   ends; held messages are passed on after what was read, and duplicates are dropped by position
 *   (BusEntry.accept).
 * - A connection lost again during a catch-up makes it read once more, from where it got to, once
 *   Redis is back.
 * - At most {@link MAX_HELD} messages are held per subscription; past that it gives up (phx_error).
 * - {@link CatchUp.whenPassed} resolves only once every change up to its position has been passed on
 *   live (heard, and not held by a catch-up), so a socket that resumed from the history up to there
 *   can go live without getting any of those changes again.
 */
import {
  comparePositionTexts,
  parsePosition,
  parseTopic,
  patternForAll,
  type Position,
} from '@walcast/protocol';
import type { History } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import type { BusEntry } from './bus-subscriptions';

/** What catching up needs from the registry. */
export interface CatchUpHost {
  /** Passes a message on; `fromHistory` skips the gap check (its sequence is only noted). */
  process(entry: BusEntry, topic: string, message: string, fromHistory: boolean): void;
  /** Ends the channels fed by `entry`: they may have missed changes. */
  lost(entry: BusEntry, reason: 'gap' | 'redis'): void;
  /** Every subscription held now. */
  entries(): Iterable<BusEntry>;
  /** Whether `entry` is still held (not released meanwhile). */
  holds(entry: BusEntry): boolean;
}

export interface CatchUpCounters {
  /** A subscription caught up (`ok`) or gave up (`gap`: the history did not cover it; `failed`). */
  finished(result: 'ok' | 'gap' | 'failed'): void;
  /** Changes read from the history. */
  read(count: number): void;
}

/** Most messages held by one subscription while it catches up. */
export const MAX_HELD = 100_000;
/** Entries read from the history per request. */
const PAGE = 1000;

class NotCovered extends Error {}

/** The later of two positions (texts), either of which may be missing. */
function later(a: string | null, b: string | null): string | null {
  if (a === null || b === null) return a ?? b;
  return comparePositionTexts(a, b) >= 0 ? a : b;
}

/** Table topics and patterns have a history; broadcast topics do not (their subscriptions share the bus). */
function carriesChanges(entry: BusEntry): boolean {
  const { key } = entry;
  return key.topic !== undefined
    ? parseTopic(key.topic) !== null
    : key.pattern.startsWith(patternForAll().slice(0, -1));
}

export class CatchUp {
  /** The last position heard on the bus (a change or an announcement). */
  private lastHeard: string | null = null;
  /** `lastHeard` when the connection broke (null while connected). */
  private cut: string | null = null;
  /** Redis Cluster: the last position heard per hash slot. */
  private readonly heardBySlot = new Map<number, string>();
  /** `heardBySlot` when the connection broke. */
  private cutBySlot = new Map<number, string>();
  /** Counts lost connections, so a catch-up knows whether another one happened during it. */
  private drops = 0;
  private connected = true;
  private readonly waitingForRedis: Array<() => void> = [];
  private readonly running = new Set<BusEntry>();
  private readonly passWaiters = new Set<{ isPassed(): boolean; done(): void }>();

  constructor(
    private readonly history: History | null,
    private readonly host: CatchUpHost,
    private readonly counters: CatchUpCounters,
    private readonly log: Logger,
  ) {}

  /** Whether lost changes can be read back at all (a history is configured). */
  get enabled(): boolean {
    return this.history !== null;
  }

  /** The last position heard on the bus, if any. */
  get lastPosition(): string | null {
    return this.lastHeard;
  }

  /** A position heard on the bus; on a Redis Cluster, `slot` is the hash slot it was heard on. */
  heard(position: string, slot: number | null = null): void {
    if (this.lastHeard === null || comparePositionTexts(position, this.lastHeard) > 0)
      this.lastHeard = position;
    if (slot !== null && this.history) {
      const last = this.heardBySlot.get(slot);
      if (last === undefined || comparePositionTexts(position, last) > 0)
        this.heardBySlot.set(slot, position);
    }
    if (this.passWaiters.size > 0) this.wakePassWaiters();
  }

  /**
   * Resolves once the live stream has passed `position`: a position at or after it was heard and
   * none of `entries` holds messages (catching up), so every change up to it has been passed on to
   * their groups; or after `timeoutMs` (a position this gateway never hears). The promise settles in
   * a later microtask, after the message that passed it was delivered.
   */
  whenPassed(position: string, entries: readonly BusEntry[], timeoutMs: number): Promise<void> {
    const isPassed = (): boolean =>
      this.lastHeard !== null &&
      comparePositionTexts(this.lastHeard, position) >= 0 &&
      entries.every((e) => e.held === null);
    if (isPassed()) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        isPassed,
        done: (): void => {
          clearTimeout(timer);
          this.passWaiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(waiter.done, timeoutMs);
      this.passWaiters.add(waiter);
    });
  }

  private wakePassWaiters(): void {
    for (const waiter of [...this.passWaiters]) if (waiter.isPassed()) waiter.done();
  }

  /** The connection to Redis is lost: every live subscription holds what arrives from now on. */
  busLost(): void {
    if (!this.history || !this.connected) return;
    this.connected = false;
    this.drops++;
    this.cut = this.lastHeard;
    this.cutBySlot = new Map(this.heardBySlot);
    for (const entry of this.host.entries()) {
      if (entry.live && entry.held === null && carriesChanges(entry)) entry.held = [];
    }
  }

  /** Redis is back (every subscription restored): the holding subscriptions catch up. */
  busBack(): void {
    if (!this.history) return;
    this.connected = true;
    for (const wake of this.waitingForRedis.splice(0)) wake();
    const cut = this.cut;
    const cutBySlot = this.cutBySlot;
    this.cut = null;
    this.cutBySlot = new Map();
    for (const entry of this.host.entries()) {
      if (entry.held !== null && !this.running.has(entry))
        void this.run(entry, null, entry.slot === null ? cut : (cutBySlot.get(entry.slot) ?? null), 'redis');
    }
  }

  /**
   * `message` on `topic` showed a gap: holds it and catches the topic up from the entry's last
   * position. False when that cannot be done (no history, nothing passed on yet): the caller ends
   * the channels.
   */
  gap(entry: BusEntry, topic: string, message: string): boolean {
    if (!this.history || entry.positionOf(topic) === undefined) return false;
    if (entry.held === null) entry.held = [];
    entry.held.push({ topic, message });
    if (!this.running.has(entry)) void this.run(entry, topic, null, 'gap');
    return true;
  }

  private async run(entry: BusEntry, onlyTopic: string | null, cut: string | null, reason: 'gap' | 'redis') {
    const history = this.history!;
    this.running.add(entry);
    try {
      let pass: number;
      do {
        await this.redisBack();
        pass = this.drops;
        const { key } = entry;
        const topics =
          onlyTopic !== null
            ? [onlyTopic]
            : key.topic !== undefined
              ? [key.topic]
              : await history.topics(key.pattern);
        for (const topic of topics) {
          if (!this.pending(entry)) return;
          const from = parsePosition(entry.positionOf(topic) ?? later(cut, entry.baseline));
          if (!from) throw new NotCovered(`no position to resume ${topic} from`);
          const coverage = await history.covers(topic, from);
          if (!coverage.covered) throw new NotCovered(`the history of ${topic} no longer covers the gap`);
          await this.readFrom(entry, topic, from);
        }
      } while (this.drops !== pass);
      if (!this.pending(entry)) return;
      const held = entry.held!;
      entry.held = null;
      for (const m of held) this.host.process(entry, m.topic, m.message, false);
      this.counters.finished('ok');
    } catch (err) {
      if (!this.pending(entry)) return;
      entry.held = null;
      this.counters.finished(err instanceof NotCovered ? 'gap' : 'failed');
      this.log.warn(
        { err, topic: entry.id, code: 'ChangesMissed', reason },
        'could not catch up from the change history; its channels are ended',
      );
      this.host.lost(entry, reason);
    } finally {
      this.running.delete(entry);
      if (this.passWaiters.size > 0) this.wakePassWaiters();
    }
  }

  private async readFrom(entry: BusEntry, topic: string, from: Position): Promise<void> {
    let after = from;
    for (;;) {
      const page = await this.history!.read(topic, after, PAGE);
      if (!this.pending(entry)) return;
      for (const record of page) this.host.process(entry, topic, record.message, true);
      this.counters.read(page.length);
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.position;
    }
  }

  /** Whether `entry` still waits for this catch-up (not released, and not given up: too much held). */
  private pending(entry: BusEntry): boolean {
    return entry.held !== null && this.host.holds(entry);
  }

  private redisBack(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.waitingForRedis.push(resolve));
  }
}
