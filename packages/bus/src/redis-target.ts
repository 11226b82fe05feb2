/**
 * Where Redis is: one server (REDIS_URL) or a Redis Cluster given by seed nodes
 * (REDIS_CLUSTER_NODES), and how walcast opens ioredis connections to a cluster. Imports ioredis
 * lazily (the ingester's start-up does not pay for it unless it uses a cluster).
 */
import type * as IORedis from 'ioredis';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { jitteredBackoffMs } from './backoff';

/** A Redis Cluster: some of its nodes (any role; the rest is discovered) and how to reach them. */
export interface ClusterSeeds {
  nodes: ReadonlyArray<{ host: string; port: number }>;
  username?: string | undefined;
  password?: string | undefined;
  /** Connect with TLS (`rediss://` seeds). */
  tls: boolean;
}

/** One Redis server by URL, or a Redis Cluster. */
export type RedisTarget = { url: string; cluster?: undefined } | { cluster: ClusterSeeds; url?: undefined };

/**
 * The target the settings name: the cluster when REDIS_CLUSTER_NODES is set (it takes precedence),
 * else REDIS_URL. Callers check first that one of them is set.
 */
export function redisTarget(url: string | undefined, cluster: ClusterSeeds | undefined): RedisTarget {
  if (cluster !== undefined) return { cluster };
  if (url === undefined) throw new Error('REDIS_URL or REDIS_CLUSTER_NODES is required');
  return { url };
}

/** How often each connection's copy of the slot map is refreshed from the cluster. */
export const SLOTS_REFRESH_INTERVAL_MS = 1000;

export function loadIoredis(): typeof IORedis {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('ioredis') as typeof IORedis;
}

/** Options every walcast connection to a cluster node shares: credentials and TLS. */
export function nodeOptions(seeds: ClusterSeeds): RedisOptions {
  return {
    ...(seeds.username ? { username: seeds.username } : {}),
    ...(seeds.password ? { password: seeds.password } : {}),
    ...(seeds.tls ? { tls: {} } : {}),
  };
}

/**
 * An ioredis Cluster for commands: follows MOVED/ASK, refreshes its slot map every
 * {@link SLOTS_REFRESH_INTERVAL_MS}, queues commands while the cluster is unreachable and
 * reconnects with jittered backoff.
 */
export function openCluster(seeds: ClusterSeeds, name: string, extra: Partial<ClusterOptions> = {}): Cluster {
  const { Cluster: ClusterClient } = loadIoredis();
  return new ClusterClient(
    seeds.nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      slotsRefreshInterval: SLOTS_REFRESH_INTERVAL_MS,
      clusterRetryStrategy: (attempt: number) => jitteredBackoffMs(attempt, 100, 2000),
      enableOfflineQueue: true,
      ...extra,
      redisOptions: {
        ...nodeOptions(seeds),
        connectionName: name,
        maxRetriesPerRequest: null,
        ...extra.redisOptions,
      },
    },
  );
}

/** A plain connection to one cluster node (`host:port`), for sharded subscriptions. */
export function openNode(seeds: ClusterSeeds, nodeKey: string, options: RedisOptions): Redis {
  const { Redis: RedisClient } = loadIoredis();
  const colon = nodeKey.lastIndexOf(':');
  return new RedisClient({
    host: nodeKey.slice(0, colon),
    port: Number(nodeKey.slice(colon + 1)),
    ...nodeOptions(seeds),
    ...options,
  });
}

/** `host:port,…` of a target, for logs (never credentials). */
export function describeTarget(target: RedisTarget): string {
  if (target.url !== undefined) {
    const u = new URL(target.url);
    return `${u.hostname}:${u.port || 6379}`;
  }
  return target.cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',');
}
