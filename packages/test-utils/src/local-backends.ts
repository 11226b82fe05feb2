import { LocalPostgres, LocalRedis } from '@walcast/local-services';

import type { Backends } from './backends';

/** Starts PostgreSQL and Redis from local binaries, in parallel (Redis persisted when `redisAppendOnly`). */
export async function startLocalBackends(
  pgSettings: Record<string, string | number> = {},
  redisAppendOnly = false,
): Promise<Backends> {
  const [pg, redis] = await Promise.allSettled([
    LocalPostgres.start({ settings: pgSettings }),
    LocalRedis.start({ appendOnly: redisAppendOnly }),
  ]);
  if (pg.status === 'rejected' || redis.status === 'rejected') {
    if (pg.status === 'fulfilled') await pg.value.destroy();
    if (redis.status === 'fulfilled') await redis.value.destroy();
    throw pg.status === 'rejected' ? pg.reason : (redis as PromiseRejectedResult).reason;
  }
  return {
    strategy: 'local',
    pg: pg.value,
    redis: redis.value,
    redisCluster: null,
    stop: async () => {
      await Promise.all([pg.value.destroy(), redis.value.destroy()]);
    },
  };
}
