import type { LocalRedisCluster, LocalRedisClusterOptions, PostgresStopMode } from '@walcast/local-services';

/** A PostgreSQL server for a test, with the fault-injection operations tests need. */
export interface PgBackend {
  /** `postgres://postgres@<host>:<port>/postgres`; stays the same across stop/start/kill. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Shuts down (`fast` by default); resolves once the server is down. */
  stop(mode?: PostgresStopMode): Promise<void>;
  /** Starts again on the same data and port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Crashes the server (SIGKILL); start() then runs crash recovery. */
  kill(): Promise<void>;
  restart(mode?: PostgresStopMode): Promise<void>;
}

/**
 * A Redis server for a test. Nothing is persisted (after stop/start it is empty) unless it was
 * started with `redisAppendOnly` (then stop, kill and start keep everything it answered).
 */
export interface RedisBackend {
  /** `redis://<host>:<port>`; stays the same across stop/start/kill. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

/** Where the servers run. */
export type BackendStrategy = 'local' | 'containers';

/** A PostgreSQL with `wal_level=logical` and a Redis, owned by one test file. */
export interface Backends {
  readonly strategy: BackendStrategy;
  readonly pg: PgBackend;
  readonly redis: RedisBackend;
  /**
   * A Redis Cluster, when asked for ({@link StartBackendsOptions.redisCluster}): the stack then uses
   * it instead of `redis` (REDIS_CLUSTER_NODES). Always local `redis-server` processes.
   */
  readonly redisCluster: LocalRedisCluster | null;
  /** Stops the servers and deletes their data. Idempotent. */
  stop(): Promise<void>;
}

/** Options for {@link startBackends}. */
export interface StartBackendsOptions {
  /**
   * `local` uses binaries on this machine, `containers` requires a container engine, `auto` tries
   * containers and falls back to local. Default: env `WALCAST_TEST_BACKEND`, else `auto`.
   */
  strategy?: BackendStrategy | 'auto';
  /** Extra PostgreSQL settings (`-c name=value`), e.g. `{ max_slot_wal_keep_size: '1MB' }`. */
  pgSettings?: Record<string, string | number>;
  /**
   * Run Redis with an append-only file written on every command (`appendfsync always`), so that a
   * restart, even after a kill, keeps its data. Default false: a restarted Redis is empty.
   */
  redisAppendOnly?: boolean;
  /**
   * Also start a Redis Cluster from the local `redis-server` (whatever the strategy: a cluster in
   * containers would need their addresses announced to the host), e.g. `{ masters: 3 }`.
   */
  redisCluster?: LocalRedisClusterOptions;
}
