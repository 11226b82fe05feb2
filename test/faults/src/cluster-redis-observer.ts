/**
 * What reached a Redis Cluster: a sharded subscriber (SSUBSCRIBE) on the workload table's topic, on
 * the master serving its hash slot, the cluster form of RedisObserver. When that master dies it
 * finds the slot's new master (a promoted replica) and subscribes there; like RedisObserver it
 * records each interval during which it was not subscribed, from the moment its connection closed
 * to the moment the new SSUBSCRIBE was confirmed (see docs/fault-injection.md).
 */
import { Redis } from 'ioredis';

import { hashSlot } from '@walcast/protocol';
import type { LocalRedisCluster } from '@walcast/test-utils';

import { IdCounts } from './checker';
import { busMessageRecordId } from './row-id';

/** Pause between attempts to find and subscribe on the slot's master while it is away. */
const RETRY_MS = 50;

/** A sharded subscriber on one table topic of a Redis Cluster that counts deliveries per row id. */
export class ClusterRedisObserver {
  readonly name = 'redis';
  readonly counts = new IdCounts();
  /** Intervals [from, to] (epoch ms) during which this subscriber was not subscribed. */
  readonly unsubscribed: Array<{ from: number; to: number }> = [];
  /** Messages that did not decode as bus envelopes. */
  malformed = 0;
  /** When the last message arrived (epoch ms), or when the observer opened. */
  lastDeliveryAt = Date.now();
  /** The port of the master subscribed on now (or last). */
  masterPort = 0;
  private downSince: number | null = null;
  private client: Redis | null = null;
  private isClosed = false;

  private constructor(
    private readonly cluster: LocalRedisCluster,
    private readonly topic: string,
  ) {}

  /** Resolves once the SSUBSCRIBE on the topic's master is confirmed. */
  static async open(cluster: LocalRedisCluster, topic: string): Promise<ClusterRedisObserver> {
    const observer = new ClusterRedisObserver(cluster, topic);
    await observer.subscribe();
    return observer;
  }

  /** True while subscribed. */
  get isSubscribed(): boolean {
    return this.downSince === null;
  }

  async close(): Promise<void> {
    this.isClosed = true;
    this.client?.disconnect();
    await Promise.resolve();
  }

  private async subscribe(): Promise<void> {
    const master = await this.cluster.masterOf(hashSlot(this.topic));
    const client = new Redis({
      host: master.host,
      port: master.port,
      lazyConnect: true,
      retryStrategy: () => null, // a new master is looked up instead
      maxRetriesPerRequest: 0,
      autoResubscribe: false,
      connectionName: 'walcast-faults-observer',
    });
    client.on('error', () => undefined);
    client.on('smessage', (_channel: string, text: string) => this.count(text));
    client.once('close', () => {
      if (this.client !== client || this.isClosed) return;
      this.client = null;
      this.downSince ??= Date.now();
      void this.resubscribe();
    });
    try {
      await client.connect();
      await client.ssubscribe(this.topic); // a MOVED reply (the slot map changed) rejects
    } catch (err) {
      client.disconnect();
      throw err;
    }
    this.client = client;
    this.masterPort = master.port;
  }

  private async resubscribe(): Promise<void> {
    while (!this.isClosed) {
      try {
        await this.subscribe();
        if (this.downSince !== null) this.unsubscribed.push({ from: this.downSince, to: Date.now() });
        this.downSince = null;
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  private count(text: string): void {
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
}
