/**
 * The Redis setups the end-to-end suites run against: one Redis, and a Redis Cluster of three
 * masters (REDIS_CLUSTER_NODES: sharded pub/sub, per-slot keys). A suite wraps its cases in
 * `describe.each(REDIS_SETUPS)` and passes the options to startBackends.
 */
import type { StartBackendsOptions } from '@walcast/test-utils';

export const REDIS_SETUPS: Array<[string, StartBackendsOptions]> = [
  ['one Redis', {}],
  ['a Redis Cluster of 3 shards', { redisCluster: { masters: 3 } }],
];
