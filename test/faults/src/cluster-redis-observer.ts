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

import { BusObserver } from './bus-observer';

/** Pause between attempts to find and subscribe on the slot's master while it is away. */
const RETRY_MS = 50;

/** A sharded subscriber on one table topic of a Redis Cluster that counts deliveries per row id. */
export class ClusterRedisObserver extends BusObserver {
  /** The port of the master subscribed on now (or last). */
  masterPort = 0;
  private client: Redis | null = null;
  private isClosed = false;

  private constructor(
    private readonly cluster: LocalRedisCluster,
    private readonly topic: string,
  ) {
    super();
  }

  /** Resolves once the SSUBSCRIBE on the topic's master is confirmed. */
  static async open(cluster: LocalRedisCluster, topic: string): Promise<ClusterRedisObserver> {
    const observer = new ClusterRedisObserver(cluster, topic);
    await observer.subscribe();
    return observer;
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
      this.markDown();
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
        this.markSubscribed();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }
}
