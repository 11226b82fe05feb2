/**
 * What reached Redis: a pattern subscriber on every walcast table topic. Redis pub/sub keeps
 * nothing for a disconnected subscriber, so it records each interval during which it was not
 * subscribed (from the moment its connection closed to the moment a new PSUBSCRIBE was confirmed);
 * the harness uses those intervals to define loss for the Redis restart (see docs/fault-injection.md).
 */
import { Redis } from 'ioredis';

import { patternForAll } from '@walcast/protocol';

import { BusObserver } from './bus-observer';

/** A Redis subscriber on every table topic (`patternForAll()`) that counts deliveries per row id. */
export class RedisObserver extends BusObserver {
  private readonly client: Redis;

  private constructor(url: string) {
    super();
    // Reconnects every 20 ms and subscribes again itself, so that the time it was away is known.
    this.client = new Redis(url, {
      maxRetriesPerRequest: null,
      retryStrategy: () => 20,
      autoResubscribe: false,
      lazyConnect: true,
      connectionName: 'walcast-faults-observer',
    });
    this.client.on('error', () => undefined);
    this.client.on('close', () => this.markDown());
    this.client.on('ready', () => {
      if (this.isSubscribed) return;
      void this.subscribe().catch(() => undefined); // a failure closes the connection; 'ready' comes again
    });
    this.client.on('pmessage', (_pattern: string, _channel: string, text: string) => this.count(text));
  }

  /** Connects and resolves once the PSUBSCRIBE is confirmed. */
  static async open(url: string): Promise<RedisObserver> {
    const observer = new RedisObserver(url);
    await observer.client.connect();
    await observer.client.psubscribe(patternForAll());
    return observer;
  }

  async close(): Promise<void> {
    this.client.disconnect();
    await Promise.resolve();
  }

  private async subscribe(): Promise<void> {
    await this.client.psubscribe(patternForAll());
    this.markSubscribed();
  }
}
