/**
 * Flow control from Redis subscribers back to the ingester. Redis pub/sub has none: a subscriber
 * (a gateway) that reads slower than the ingester publishes accumulates an output buffer in Redis,
 * and past `client-output-buffer-limit pubsub` Redis closes it, silently dropping what it held —
 * a large transaction published at full speed did exactly that. This watch reads every
 * subscriber's backlog (`CLIENT LIST TYPE pubsub`) every `intervalMs` and holds WAL reading while
 * any of them is above `pauseBytes`, until all are under half of it: a burst then flows at the
 * pace of the slowest gateway, and nothing is dropped.
 *
 * Between two readings the ingester may publish at most what the last reading left of `pauseBytes`
 * (a budget that each publish spends); once it is spent, reading holds and a new reading is taken
 * at once. So a backlog can never outrun the readings, however fast the ingester publishes or
 * however late a timer fires on a busy event loop.
 *
 * Liveness: a subscriber that stays above the threshold for `maxWaitMs` (stuck, or stopped) is no
 * longer waited for (logged once) until its backlog falls back under the threshold; Redis's own
 * limit then deals with it, as it would without this watch. A failed reading changes nothing.
 */
import type { Logger } from '@walcast/logger';
import type { SubscriberBacklog } from '@walcast/bus';
import { repeatEvery } from '../repeat-every';

export interface SubscriberFlowOptions {
  /** Reads the backlog of every subscriber. */
  read(): Promise<SubscriberBacklog[]>;
  intervalMs: number;
  pauseBytes: number;
  maxWaitMs: number;
  log: Logger;
  /** Called when holding starts (true) and ends (false). */
  onHold(held: boolean): void;
  now?: () => number;
}

export class SubscriberFlow {
  private stopReadings: (() => void) | null = null;
  private held = false;
  /** When each subscriber over the threshold first went over it. */
  private readonly overSince = new Map<string, number>();
  /** Subscribers no longer waited for. */
  private readonly ignored = new Set<string>();
  /** Bytes that may still be published before the next reading. */
  private budget: number;
  private reading: Promise<void> | null = null;
  private readAgain = false;

  constructor(private readonly opts: SubscriberFlowOptions) {
    this.budget = opts.pauseBytes;
  }

  /** Spends `bytes` of the budget (a publish); holds and takes a reading when it is spent. */
  consume(bytes: number): void {
    this.budget -= bytes;
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
    this.setHeld(false);
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
        let backlog: SubscriberBacklog[];
        try {
          backlog = await this.opts.read();
        } catch (err) {
          this.opts.log.debug({ err }, 'could not read subscriber backlogs');
          return;
        }
        this.decide(backlog);
      } while (this.readAgain && this.held);
    })().finally(() => (this.reading = null));
    return this.reading;
  }

  /** Applies one reading. */
  decide(backlog: readonly SubscriberBacklog[]): void {
    const { pauseBytes, maxWaitMs, log } = this.opts;
    const now = (this.opts.now ?? Date.now)();
    const present = new Set(backlog.map((c) => c.id));
    for (const id of this.overSince.keys()) if (!present.has(id)) this.overSince.delete(id);
    for (const id of this.ignored) if (!present.has(id)) this.ignored.delete(id);
    let blocking = false;
    let draining = false;
    let deepest = 0;
    for (const client of backlog) {
      if (client.outputBytes <= pauseBytes) {
        this.overSince.delete(client.id);
        if (this.ignored.delete(client.id))
          log.info({ subscriber: client.name, id: client.id }, 'subscriber caught up; waiting for it again');
      }
      if (this.ignored.has(client.id)) continue;
      if (client.outputBytes > pauseBytes) {
        const since = this.overSince.get(client.id) ?? now;
        this.overSince.set(client.id, since);
        if (now - since >= maxWaitMs) {
          this.ignored.add(client.id);
          log.warn(
            {
              subscriber: client.name,
              id: client.id,
              backlogBytes: client.outputBytes,
              code: 'SlowSubscriber',
            },
            'a Redis subscriber stays behind; no longer waiting for it',
          );
          continue;
        }
        blocking = true;
      } else if (client.outputBytes > pauseBytes / 2) {
        draining = true;
      }
      deepest = Math.max(deepest, client.outputBytes);
    }
    // Hysteresis: start above the threshold, end once everyone waited for is under half of it.
    const held = blocking || (this.held && draining);
    this.budget = held ? 0 : pauseBytes - deepest;
    this.setHeld(held);
  }

  private setHeld(held: boolean): void {
    if (held === this.held) return;
    this.held = held;
    this.opts.log.debug({ held }, held ? 'subscribers behind; holding WAL reads' : 'subscribers caught up');
    this.opts.onHold(held);
  }
}
