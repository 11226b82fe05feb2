/**
 * What reached Redis: a pattern subscriber on every walcast table topic. Redis pub/sub keeps
 * nothing for a disconnected subscriber, so it records each interval during which it was not
 * subscribed (from the moment its connection closed to the moment a new PSUBSCRIBE was confirmed);
 * the harness uses those intervals to define loss for the Redis restart (see docs/fault-injection.md).
 */
import { Redis } from 'ioredis';

import { patternForAll } from '@walcast/protocol';

import { IdCounts } from './checker';
import { busMessageRecordId } from './row-id';

/** A Redis subscriber on every table topic (`patternForAll()`) that counts deliveries per row id. */
export class RedisObserver {
  readonly name = 'redis';
  readonly counts = new IdCounts();
  /** Intervals [from, to] (epoch ms) during which this subscriber was not subscribed. */
  readonly unsubscribed: Array<{ from: number; to: number }> = [];
  /** Messages that did not decode as bus envelopes. */
  malformed = 0;
  /** When the last message arrived (epoch ms), or when the observer opened. */
  lastDeliveryAt = Date.now();
  private downSince: number | null = null;
  private readonly client: Redis;

  private constructor(url: string) {
    // Reconnects every 20 ms and subscribes again itself, so that the time it was away is known.
    this.client = new Redis(url, {
      maxRetriesPerRequest: null,
      retryStrategy: () => 20,
      autoResubscribe: false,
      lazyConnect: true,
      connectionName: 'walcast-faults-observer',
    });
    this.client.on('error', () => undefined);
    this.client.on('close', () => {
      this.downSince ??= Date.now();
    });
    this.client.on('ready', () => {
      if (this.downSince === null) return;
      void this.subscribe().catch(() => undefined); // a failure closes the connection; 'ready' comes again
    });
    this.client.on('pmessage', (_pattern: string, _channel: string, text: string) => {
      let id: number | null;
      try {
        id = busMessageRecordId(text);
      } catch {
        this.malformed++;
        return;
      }
      if (id !== null) this.counts.add(id);
      this.lastDeliveryAt = Date.now();
    });
  }

  /** Connects and resolves once the PSUBSCRIBE is confirmed. */
  static async open(url: string): Promise<RedisObserver> {
    const observer = new RedisObserver(url);
    await observer.client.connect();
    await observer.client.psubscribe(patternForAll());
    return observer;
  }

  /** True while subscribed. */
  get isSubscribed(): boolean {
    return this.downSince === null;
  }

  async close(): Promise<void> {
    this.client.disconnect();
    await Promise.resolve();
  }

  private async subscribe(): Promise<void> {
    await this.client.psubscribe(patternForAll());
    if (this.downSince !== null) this.unsubscribed.push({ from: this.downSince, to: Date.now() });
    this.downSince = null;
  }
}
