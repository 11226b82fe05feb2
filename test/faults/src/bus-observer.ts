/**
 * What the fault suite's Redis observers share (redis-observer.ts on one Redis, cluster-redis-observer.ts
 * on a Redis Cluster): deliveries counted per row id from the bus messages received, and the
 * intervals during which the subscriber was not subscribed, from the moment its connection closed
 * to the moment a new subscription was confirmed (Redis pub/sub keeps nothing for a subscriber away).
 */
import { IdCounts } from './checker';
import { busMessageRecordId } from './row-id';

export abstract class BusObserver {
  readonly name = 'redis';
  readonly counts = new IdCounts();
  /** Intervals [from, to] (epoch ms) during which this subscriber was not subscribed. */
  readonly unsubscribed: Array<{ from: number; to: number }> = [];
  /** Messages that did not decode as bus envelopes. */
  malformed = 0;
  /** When the last message arrived (epoch ms), or when the observer opened. */
  lastDeliveryAt = Date.now();
  private downSince: number | null = null;

  /** True while subscribed. */
  get isSubscribed(): boolean {
    return this.downSince === null;
  }

  abstract close(): Promise<void>;

  /** Counts one bus message received. */
  protected count(text: string): void {
    let id: number | null;
    try {
      id = busMessageRecordId(text);
    } catch {
      this.malformed++;
      return;
    }
    if (id !== null) this.counts.add(id);
    this.lastDeliveryAt = Date.now();
  }

  /** The subscriber's connection closed (the first close of an outage counts). */
  protected markDown(): void {
    this.downSince ??= Date.now();
  }

  /** A new subscription was confirmed: ends the outage, if any. */
  protected markSubscribed(): void {
    if (this.downSince !== null) this.unsubscribed.push({ from: this.downSince, to: Date.now() });
    this.downSince = null;
  }
}
