/**
 * The one place that picks the Redis bus for a target: {@link RedisBus} on one server,
 * {@link RedisClusterBus} on a Redis Cluster. Both have the same contract and the same extras.
 */
import type { Logger } from '@walcast/logger';
import type { Bus } from './bus';
import { RedisBus } from './redis-bus';
import { RedisClusterBus } from './redis-cluster-bus';
import type { RedisTarget } from './redis-target';
import type { SubscriberBacklog } from './subscriber-backlog';

/** A bus backed by Redis: the Bus contract plus what the services need of Redis itself. */
export interface RedisBackedBus extends Bus {
  /** Every connection error (for counting; connections retry by themselves). */
  onError(listener: (err: Error) => void): void;
  /** Drops history entries before `streamId` from every table's history. */
  trimHistory(streamId: string): Promise<void>;
  /** What Redis buffers for each pub/sub subscriber (every master's, on a cluster). */
  subscriberBacklog(): Promise<SubscriberBacklog[]>;
  /** Closes a subscriber connection by the id {@link subscriberBacklog} gave. */
  closeSubscriber(id: string): Promise<void>;
  ping(): Promise<void>;
}

export interface CreateRedisBusOptions {
  /** Names the connections in `CLIENT LIST`. */
  name: string;
  log: Logger;
  /** Only publish, never subscribe (the ingester). */
  publishOnly?: boolean;
  /** Keep a history of table changes: at most `maxLen` changes (about) per table. */
  history?: { maxLen: number };
}

export function createRedisBus(target: RedisTarget, opts: CreateRedisBusOptions): RedisBackedBus {
  return target.url !== undefined
    ? new RedisBus({ url: target.url, ...opts })
    : new RedisClusterBus({ cluster: target.cluster, ...opts });
}
