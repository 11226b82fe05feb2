import { LocalRedisCluster } from '@walcast/local-services';
import type { Backends, BackendStrategy, StartBackendsOptions } from './backends';
import { startContainerBackends } from './container-backends';
import { probeContainerRuntime } from './container-runtime-probe';
import { startLocalBackends } from './local-backends';

/**
 * Starts a PostgreSQL (`wal_level=logical`, trust auth as `postgres`) and a Redis for one test file.
 *
 * Strategy: `local` starts binaries on this machine (see `@walcast/local-services`); `containers`
 * requires a container engine and fails if there is none; `auto` (default) asks testcontainers
 * once per process whether an engine is available and falls back to local binaries. With
 * `redisCluster`, a Redis Cluster of local `redis-server` processes too. Call `stop()` in
 * `afterAll`; servers are also killed if the test process dies.
 */
export async function startBackends(opts: StartBackendsOptions = {}): Promise<Backends> {
  const strategy = await chooseStrategy(opts.strategy ?? strategyFromEnv());
  const backends =
    strategy === 'containers'
      ? await startContainerBackends(opts.pgSettings, opts.redisAppendOnly)
      : await startLocalBackends(opts.pgSettings, opts.redisAppendOnly);
  if (!opts.redisCluster) return backends;
  let redisCluster: LocalRedisCluster;
  try {
    redisCluster = await LocalRedisCluster.start(opts.redisCluster);
  } catch (err) {
    await backends.stop();
    throw err;
  }
  return {
    ...backends,
    redisCluster,
    stop: async () => {
      await Promise.all([backends.stop(), redisCluster.destroy()]);
    },
  };
}

function strategyFromEnv(): BackendStrategy | 'auto' {
  const value = process.env['WALCAST_TEST_BACKEND'];
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === 'local' || value === 'containers') return value;
  throw new Error(`WALCAST_TEST_BACKEND=${value} is not one of local, containers, auto`);
}

async function chooseStrategy(requested: BackendStrategy | 'auto'): Promise<BackendStrategy> {
  if (requested === 'local') return 'local';
  const probe = await probeContainerRuntime();
  if (probe.isAvailable) return 'containers';
  if (requested === 'auto') return 'local';
  const reason = probe.error instanceof Error ? probe.error.message : String(probe.error);
  throw new Error(
    `WALCAST_TEST_BACKEND=containers but no container runtime is available (${reason}); ` +
      'start Docker or set WALCAST_TEST_BACKEND=local',
    { cause: probe.error },
  );
}
