/**
 * The presence store's own Redis connection, to one Redis or to a Redis Cluster, with the presence
 * scripts defined and the key names that go with it (presence-keyspace.ts). Commands fail fast
 * while Redis is away (no offline queue, no retry, a timeout): the store answers its clients and
 * re-asserts later, instead of queueing.
 *
 * On a cluster, losing one node is not losing the cluster: `onNodeRestored` is called when a lost
 * node is reachable again or a slot's master changed (a failover), since that node may have come
 * back empty or the new master may have missed the last writes, so the store re-asserts.
 */
import { jitteredBackoffMs, openCluster, type RedisTarget } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import { HASH_SLOTS } from '@walcast/protocol';
import { Redis } from 'ioredis';
import { CLUSTER_PRESENCE, SINGLE_REDIS_PRESENCE, type PresenceKeyspace } from './presence-keyspace';
import { definePresenceCommands, type PresenceRedis } from './presence-scripts';

/** A command not answered within this long fails; the store then re-asserts at its next renewal. */
export const COMMAND_TIMEOUT_MS = 5000;

export interface PresenceConnection {
  redis: PresenceRedis;
  keyspace: PresenceKeyspace;
}

export function openPresenceConnection(opts: {
  target: RedisTarget;
  /** Names the connection(s) in CLIENT LIST. */
  name: string;
  leaseMs: number;
  log: Logger;
  onNodeRestored(): void;
}): PresenceConnection {
  const maxRetryMs = Math.max(100, Math.min(5000, Math.floor(opts.leaseMs / 3)));
  const failFast = {
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: COMMAND_TIMEOUT_MS,
  };
  if (opts.target.url !== undefined) {
    const redis = new Redis(opts.target.url, {
      connectionName: opts.name,
      enableOfflineQueue: false,
      ...failFast,
      retryStrategy: (attempt: number) => jitteredBackoffMs(attempt, 100, maxRetryMs),
    });
    return { redis: definePresenceCommands(redis, SINGLE_REDIS_PRESENCE), keyspace: SINGLE_REDIS_PRESENCE };
  }
  const cluster = openCluster(opts.target.cluster, opts.name, {
    enableOfflineQueue: false,
    clusterRetryStrategy: (attempt: number) => jitteredBackoffMs(attempt, 100, maxRetryMs),
    redisOptions: failFast,
  });
  watchNodes(cluster, opts.onNodeRestored);
  // A Cluster has the same command methods as a Redis; the store uses nothing else of either.
  const redis = cluster as unknown as Redis;
  return { redis: definePresenceCommands(redis, CLUSTER_PRESENCE), keyspace: CLUSTER_PRESENCE };
}

/**
 * Calls `restored` when a node that was lost is reachable again, or when a slot's master changed.
 * The cluster client drops a node's connection object when it closes and makes a new one (lazily,
 * unconnected) at its next slot refresh, so a node is followed by its address, not its object, and
 * a node that comes back after being lost is connected at once: this gateway may have no command
 * for it until its next renewal, and its entries there must be restored now.
 */
function watchNodes(cluster: ReturnType<typeof openCluster>, restored: () => void): void {
  const lost = new Set<string>();
  cluster.on('-node', (_node: Redis, key: string) => lost.add(key));
  cluster.on('+node', (node: Redis, key: string) => {
    if (!lost.has(key)) return;
    node.once('ready', () => {
      if (lost.delete(key)) restored();
    });
    // Not reachable yet: the connection ends, the node is dropped and comes back at a later refresh.
    node.connect().catch(() => {});
  });
  let masters: Array<string | undefined> | null = null;
  cluster.on('refresh', () => {
    const now = Array.from({ length: HASH_SLOTS }, (_, slot) => cluster.slots[slot]?.[0]);
    const changed = masters !== null && now.some((key, slot) => key !== undefined && key !== masters![slot]);
    masters = now;
    if (changed) restored();
  });
}
