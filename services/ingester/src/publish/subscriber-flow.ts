/**
 * Flow control from Redis subscribers back to the ingester. Redis pub/sub has none: a subscriber
 * (a gateway) that reads slower than the ingester publishes accumulates an output buffer in Redis,
 * and past `client-output-buffer-limit pubsub` Redis closes it, silently dropping what it held —
 * a large transaction published at full speed did exactly that. This watch reads every
 * subscriber's backlog (`CLIENT LIST TYPE pubsub`) every `intervalMs` and holds WAL reading while
 * subscribers it waits for are behind: above `pauseBytes` to start holding, above half of it to
 * keep holding.
 *
 * Who is waited for: a gateway drains Redis at full speed whatever its sockets do, so when the
 * backlog is shared (a strict majority of the subscribers waited for have been behind within the
 * last `loneWaitMs`: the burst is too fast for the subscribers in general, even if they take turns
 * at being the last one), a burst flows at the pace of the slowest, and nothing is dropped. A
 * subscriber behind alone, while most keep up, is one that cannot keep up by itself (a stalled
 * event loop, an overloaded host): it is waited for only `loneWaitMs` in a row (time above
 * `pauseBytes`, or while holding without draining), then no longer, so one stalled gateway costs
 * the others at most about twice that. A walcast gateway no longer waited for is closed
 * (`CLIENT KILL ID`) once its backlog passes `closeBytes`: its bus reconnects, and the gateway
 * ends its channels with `phx_error` (the clients are told they may have missed changes and
 * rejoin). Other subscribers are left to Redis's own limit, and so are gateways when `closeBytes`
 * is 0.
 *
 * Between two readings the ingester may publish at most what the last reading left of `pauseBytes`
 * to the subscribers waited for (a budget that each publish spends), less what that reading may
 * not include (publishes Redis had not answered when it was asked, and those since): all of it
 * while a subscriber waited for has had anything buffered within the last `loneWaitMs` (a slow
 * reader drains to nothing between its reads, so one reading of 0 proves little), and otherwise
 * what passes `pauseBytes` (a subscriber's kernel buffers can hide it until Redis delivers a whole
 * pipeline at once). Once the budget is spent, reading holds and a new reading is taken at once;
 * held only for what the reading may miss, readings follow each other a few ms apart until Redis
 * has answered enough. So a backlog waited for stays under twice `pauseBytes` however fast the
 * ingester publishes, however far Redis falls behind its pipeline, or however late a timer fires
 * on a busy event loop; while every subscriber keeps up, a pipeline of up to `pauseBytes` in flight
 * is not slowed.
 *
 * Liveness: a subscriber that keeps WAL reading held for `maxWaitMs` in a row (stuck, or stopped),
 * even with others behind too, is no longer waited for either. A subscriber no longer waited for
 * is waited for again once its backlog is back under half of `pauseBytes` (each giving up is
 * logged once). A failed reading changes nothing.
 */
import type { Logger } from '@walcast/logger';
import type { SubscriberBacklog } from '@walcast/bus';
import { repeatEvery } from '../repeat-every';

/** The first wait for the next reading when only unanswered publishes hold WAL reading (doubling). */
const ANSWERS_RECHECK_MS = 2;

/** How walcast gateways name their subscriber connection (CLIENT SETNAME); only those are closed. */
const GATEWAY_SUBSCRIBER = 'walcast-gateway:';

export interface SubscriberFlowOptions {
  /** Reads the backlog of every subscriber. */
  read(): Promise<SubscriberBacklog[]>;
  /** Bytes published and not yet answered by Redis (a reading may not include them). */
  inFlightBytes?(): number;
  intervalMs: number;
  pauseBytes: number;
  maxWaitMs: number;
  /** How long a subscriber behind alone is waited for. */
  loneWaitMs: number;
  /** Backlog past which a gateway no longer waited for is closed; 0: never. */
  closeBytes: number;
  /** Closes one subscriber connection (CLIENT KILL ID). */
  close(id: string): Promise<void>;
  log: Logger;
  /** Called when holding starts (true) and ends (false). */
  onHold(held: boolean): void;
  /** Called when a subscriber was closed. */
  onClosed?(): void;
  now?: () => number;
}

export class SubscriberFlow {
  private stopReadings: (() => void) | null = null;
  private held = false;
  /** Since when each subscriber has kept WAL reading held (or started to). */
  private readonly behindSince = new Map<string, number>();
  /** Since when each subscriber has been behind alone and not draining. */
  private readonly aloneSince = new Map<string, number>();
  /** When each subscriber was last seen behind. */
  private readonly lastBehind = new Map<string, number>();
  /** When a reading last showed a subscriber waited for with anything buffered. */
  private lastBufferedAt = -Infinity;
  /** Held only for what the last reading may have missed: read again soon. */
  private isAwaitingAnswers = false;
  private recheckMs = ANSWERS_RECHECK_MS;
  private recheckTimer: NodeJS.Timeout | null = null;
  /** Each subscriber's backlog at the previous reading. */
  private readonly lastBytes = new Map<string, number>();
  /** Subscribers no longer waited for. */
  private readonly ignored = new Set<string>();
  /** Subscribers closed (or being closed). */
  private readonly closing = new Set<string>();
  /** Bytes that may still be published before the next reading. */
  private budget: number;
  /** Every byte ever spent. */
  private spent = 0;
  private reading: Promise<void> | null = null;
  private readAgain = false;

  constructor(private readonly opts: SubscriberFlowOptions) {
    this.budget = opts.pauseBytes;
  }

  /** Spends `bytes` of the budget (a publish); holds and takes a reading when it is spent. */
  consume(bytes: number): void {
    this.budget -= bytes;
    this.spent += bytes;
    if (this.budget > 0) return;
    this.setHeld(true);
    void this.check();
  }

  get isHolding(): boolean {
    return this.held;
  }

  start(): void {
    this.stopReadings = repeatEvery(() => this.check(), this.opts.intervalMs);
  }

  stop(): void {
    this.stopReadings?.();
    this.stopReadings = null;
    if (this.recheckTimer) clearTimeout(this.recheckTimer);
    this.recheckTimer = null;
    this.setHeld(false);
  }

  /**
   * Held only for what the last reading may have missed: the next reading comes 2, 4, 8… ms later
   * (up to the interval), not only at the next interval, since Redis usually answers in a few ms.
   */
  private scheduleRecheck(): void {
    if (!this.isAwaitingAnswers || !this.held) {
      this.recheckMs = ANSWERS_RECHECK_MS;
      return;
    }
    if (this.recheckTimer) return;
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = null;
      void this.check();
    }, this.recheckMs).unref();
    this.recheckMs = Math.min(this.recheckMs * 2, Math.max(ANSWERS_RECHECK_MS, this.opts.intervalMs));
  }

  /** One reading and its decision (or a second one right after, if one is under way); never throws. */
  check(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.readAgain = false;
        // What Redis had not processed when it answered may be missing from the reading: at most
        // what was unanswered when it was asked, plus what was published since.
        const spentBefore = this.spent - (this.opts.inFlightBytes?.() ?? 0);
        let backlog: SubscriberBacklog[];
        try {
          backlog = await this.opts.read();
        } catch (err) {
          this.opts.log.debug({ err }, 'could not read subscriber backlogs');
          return;
        }
        this.decide(backlog, this.spent - spentBefore);
      } while (this.readAgain && this.held);
      this.scheduleRecheck();
    })().finally(() => (this.reading = null));
    return this.reading;
  }

  /** Applies one reading; `unseenBytes` were published but may not be in it yet. */
  decide(backlog: readonly SubscriberBacklog[], unseenBytes = 0): void {
    const { pauseBytes, maxWaitMs, loneWaitMs, log } = this.opts;
    const now = (this.opts.now ?? Date.now)();
    this.forgetAbsent(backlog);
    for (const client of backlog) {
      if (client.outputBytes <= pauseBytes / 2 && this.ignored.delete(client.id))
        log.info({ subscriber: client.name, id: client.id }, 'subscriber caught up; waiting for it again');
    }
    const waited = backlog.filter((c) => !this.ignored.has(c.id));
    const isBehind = (c: SubscriberBacklog): boolean =>
      c.outputBytes > pauseBytes || (this.held && c.outputBytes > pauseBytes / 2);
    for (const client of waited) if (isBehind(client)) this.lastBehind.set(client.id, now);
    const recentlyBehind = waited.filter((c) => now - (this.lastBehind.get(c.id) ?? -Infinity) < loneWaitMs);
    const shared = recentlyBehind.length * 2 > waited.length;
    let blocking = false;
    let deepest = 0;
    for (const client of waited) {
      const draining = client.outputBytes < (this.lastBytes.get(client.id) ?? Infinity);
      this.lastBytes.set(client.id, client.outputBytes);
      if (!isBehind(client)) {
        this.behindSince.delete(client.id);
        this.aloneSince.delete(client.id);
        deepest = Math.max(deepest, client.outputBytes);
        continue;
      }
      const since = this.behindSince.get(client.id) ?? now;
      this.behindSince.set(client.id, since);
      if (shared || (draining && client.outputBytes <= pauseBytes)) this.aloneSince.delete(client.id);
      else if (!this.aloneSince.has(client.id)) this.aloneSince.set(client.id, now);
      const alone = this.aloneSince.get(client.id);
      if (alone !== undefined && now - alone >= loneWaitMs) this.giveUp(client, 'behind alone');
      else if (now - since >= maxWaitMs) this.giveUp(client, 'stays behind');
      else {
        blocking = true;
        deepest = Math.max(deepest, client.outputBytes);
      }
    }
    this.closeFarBehind(backlog);
    // What the reading may miss spends the budget while a subscriber waited for lags or lagged
    // lately; while all keep up, only what passes one pipeline of `pauseBytes` does.
    if (deepest > 0) this.lastBufferedAt = now;
    const isLagging = deepest > 0 || now - this.lastBufferedAt < loneWaitMs;
    const unseen = isLagging ? unseenBytes : Math.max(0, unseenBytes - pauseBytes);
    this.budget = blocking ? 0 : pauseBytes - deepest - unseen;
    // Within the threshold as far as this reading shows, but not with what it may miss: hold
    // until a reading taken once Redis answered more shows it.
    this.isAwaitingAnswers = !blocking && this.budget <= 0;
    if (this.isAwaitingAnswers) blocking = true;
    this.setHeld(blocking);
  }

  private forgetAbsent(backlog: readonly SubscriberBacklog[]): void {
    const present = new Set(backlog.map((c) => c.id));
    for (const state of [this.behindSince, this.aloneSince, this.lastBehind, this.lastBytes])
      for (const id of state.keys()) if (!present.has(id)) state.delete(id);
    for (const state of [this.ignored, this.closing])
      for (const id of state) if (!present.has(id)) state.delete(id);
  }

  private giveUp(client: SubscriberBacklog, why: 'behind alone' | 'stays behind'): void {
    this.ignored.add(client.id);
    this.lastBehind.delete(client.id);
    this.behindSince.delete(client.id);
    this.aloneSince.delete(client.id);
    this.opts.log.warn(
      {
        subscriber: client.name,
        id: client.id,
        backlogBytes: client.outputBytes,
        why,
        code: 'SlowSubscriber',
      },
      'a Redis subscriber stays behind; no longer waiting for it',
    );
  }

  /** Closes the gateways no longer waited for whose backlog passed `closeBytes`. */
  private closeFarBehind(backlog: readonly SubscriberBacklog[]): void {
    const { closeBytes, log } = this.opts;
    if (closeBytes <= 0) return;
    for (const client of backlog) {
      if (!this.ignored.has(client.id) || this.closing.has(client.id)) continue;
      if (client.outputBytes <= closeBytes || !client.name.startsWith(GATEWAY_SUBSCRIBER)) continue;
      this.closing.add(client.id);
      log.warn(
        { subscriber: client.name, id: client.id, backlogBytes: client.outputBytes, code: 'SlowSubscriber' },
        'closing a Redis subscriber too far behind; its gateway tells its clients and resubscribes',
      );
      this.opts.close(client.id).then(
        () => this.opts.onClosed?.(),
        (err: unknown) => {
          this.closing.delete(client.id);
          log.debug({ err, id: client.id }, 'could not close a subscriber');
        },
      );
    }
  }

  private setHeld(held: boolean): void {
    if (held === this.held) return;
    this.held = held;
    this.opts.log.debug({ held }, held ? 'subscribers behind; holding WAL reads' : 'subscribers caught up');
    this.opts.onHold(held);
  }
}
