import { freePort, pingPostgres, pingRedis, type PostgresStopMode } from '@walcast/local-services';
import type { StartedTestContainer } from 'testcontainers';
import type * as TestcontainersModule from 'testcontainers';

import type { Backends, PgBackend, RedisBackend } from './backends';
import { waitFor } from './wait-for';

type Testcontainers = typeof TestcontainersModule;

const PG_SIGNALS: Record<PostgresStopMode, string> = {
  smart: 'SIGTERM',
  fast: 'SIGINT',
  immediate: 'SIGQUIT',
};
const READY_TIMEOUT_MS = 60_000;

/**
 * Starts `postgres:15` (logical replication enabled, trust auth) and `redis:7` containers.
 *
 * Host ports are fixed at creation (a free port, bound explicitly) rather than random, so that
 * `url` survives stop/start: Docker re-randomises unbound ports on every start. Faults go through
 * the Docker API: stop(mode) sends the PostgreSQL shutdown signal for that mode to PID 1 and waits
 * for the container to exit; kill() is `docker kill` (SIGKILL to the whole container); start() is
 * `docker start` followed by a protocol-level readiness probe.
 */
export async function startContainerBackends(
  pgSettings: Record<string, string | number> = {},
  redisAppendOnly = false,
): Promise<Backends> {
  const tc = await import('testcontainers');
  const [pgPort, redisPort] = await Promise.all([freePort(), freePort()]);
  const settings = { wal_level: 'logical', max_replication_slots: 32, max_wal_senders: 32, ...pgSettings };
  const [pgResult, redisResult] = await Promise.allSettled([
    new tc.GenericContainer('postgres:15')
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
      .withCommand(Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]))
      .withExposedPorts({ container: 5432, host: pgPort })
      .withWaitStrategy(tc.Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .withStartupTimeout(120_000)
      .start(),
    new tc.GenericContainer('redis:7')
      .withCommand([
        'redis-server',
        '--save',
        '',
        ...(redisAppendOnly ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']),
      ])
      .withExposedPorts({ container: 6379, host: redisPort })
      .withWaitStrategy(tc.Wait.forLogMessage('Ready to accept connections'))
      .start(),
  ]);
  if (pgResult.status === 'rejected' || redisResult.status === 'rejected') {
    if (pgResult.status === 'fulfilled') await pgResult.value.stop();
    if (redisResult.status === 'fulfilled') await redisResult.value.stop();
    throw pgResult.status === 'rejected' ? pgResult.reason : (redisResult as PromiseRejectedResult).reason;
  }
  const pg = pgBackend(tc, pgResult.value, pgPort);
  const redis = redisBackend(tc, redisResult.value, redisPort);
  let isStopped = false;
  return {
    strategy: 'containers',
    pg,
    redis,
    redisCluster: null,
    stop: async () => {
      if (isStopped) return;
      isStopped = true;
      await Promise.all([pgResult.value.stop({ timeout: 0 }), redisResult.value.stop({ timeout: 0 })]);
    },
  };
}

function pgBackend(tc: Testcontainers, started: StartedTestContainer, port: number): PgBackend {
  const host = started.getHost();
  const docker = dockerOps(tc, started);
  const start = async (): Promise<void> => {
    await docker.start();
    await waitFor(async () => (await pingPostgres({ host, port })) === 'ready', {
      timeoutMs: READY_TIMEOUT_MS,
      intervalMs: 50,
      message: `postgres container on ${host}:${port} accepting connections`,
    });
  };
  const stop = (mode: PostgresStopMode = 'fast'): Promise<void> => docker.signalAndWait(PG_SIGNALS[mode]);
  return {
    url: `postgres://postgres@${host}:${port}/postgres`,
    host,
    port,
    start,
    stop,
    kill: () => docker.signalAndWait('SIGKILL'),
    restart: async (mode?: PostgresStopMode) => {
      await stop(mode);
      await start();
    },
  };
}

function redisBackend(tc: Testcontainers, started: StartedTestContainer, port: number): RedisBackend {
  const host = started.getHost();
  const docker = dockerOps(tc, started);
  const start = async (): Promise<void> => {
    await docker.start();
    await waitFor(() => pingRedis({ host, port }), {
      timeoutMs: READY_TIMEOUT_MS,
      intervalMs: 50,
      message: `redis container on ${host}:${port} answering PING`,
    });
  };
  const stop = (): Promise<void> => docker.signalAndWait('SIGTERM');
  return {
    url: `redis://${host}:${port}`,
    host,
    port,
    start,
    stop,
    kill: () => docker.signalAndWait('SIGKILL'),
    restart: async () => {
      await stop();
      await start();
    },
  };
}

/** Start and signal a container through the Docker API, keeping it (and its port binding) around. */
function dockerOps(
  tc: Testcontainers,
  started: StartedTestContainer,
): { start(): Promise<void>; signalAndWait(signal: string): Promise<void> } {
  const container = async () => (await tc.getContainerRuntimeClient()).container.getById(started.getId());
  return {
    start: async (): Promise<void> => {
      const c = await container();
      if (!(await c.inspect()).State.Running) await c.start();
    },
    /** Sends `signal` to the container's PID 1 and resolves once it has exited (no-op if stopped). */
    signalAndWait: async (signal: string): Promise<void> => {
      const c = await container();
      if (!(await c.inspect()).State.Running) return;
      const exited = c.wait();
      await c.kill({ signal });
      await exited;
    },
  };
}
