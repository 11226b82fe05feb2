import { rmSync } from 'node:fs';
import { join } from 'node:path';

import { onProcessExit } from './exit-cleanup';
import { findPostgresBinDir } from './find-postgres-bin-dir';
import { freePort } from './free-port';
import { LocalServiceError } from './local-service-error';
import { fileSize, lastLines, readLogFrom } from './log-file';
import { ManagedProcess } from './managed-process';
import { prepareDataDir, type PreparedDataDir } from './postgres-data-dir';
import { pingPostgres } from './postgres-ping';
import { postgresServerUser, type ServerUser } from './server-user';
import { waitUntilReady } from './wait-until-ready';

/** PostgreSQL shutdown modes, as in `pg_ctl stop -m`. */
export type PostgresStopMode = 'smart' | 'fast' | 'immediate';

/** Options for {@link LocalPostgres.start}. */
export interface LocalPostgresOptions {
  /** TCP port on 127.0.0.1; default: a free port (retried if another process takes it first). */
  port?: number;
  /** Data directory; reused if it holds a cluster. Default: a fresh directory under the temp dir. */
  dataDir?: string;
  /** Extra `-c` settings; they override the defaults ({@link DEFAULT_POSTGRES_SETTINGS}). */
  settings?: Record<string, string | number>;
  /** Directory with initdb, postgres and pg_ctl; default {@link findPostgresBinDir}. */
  binDir?: string;
  /** How long to wait for the server to accept connections, per start. Default 60 000. */
  startTimeoutMs?: number;
}

/** Settings every local server runs with, unless overridden through `settings`. */
export const DEFAULT_POSTGRES_SETTINGS: Readonly<Record<string, string | number>> = {
  wal_level: 'logical',
  max_replication_slots: 32,
  max_wal_senders: 32,
  listen_addresses: '127.0.0.1',
  fsync: 'off',
  synchronous_commit: 'on',
  full_page_writes: 'off',
  max_connections: 200,
  shared_buffers: '128MB',
  wal_sender_timeout: '60s',
};

const SIGNALS: Record<PostgresStopMode, NodeJS.Signals> = {
  smart: 'SIGTERM',
  fast: 'SIGINT',
  immediate: 'SIGQUIT',
};
const STOP_TIMEOUT_MS: Record<PostgresStopMode, number> = { smart: 60_000, fast: 30_000, immediate: 10_000 };
const PORT_ATTEMPTS = 5;

/**
 * A throwaway PostgreSQL server run from local binaries, for tests and `pnpm dev`.
 *
 * Guarantees: logical replication is enabled; `trust` authentication for user `postgres` over TCP
 * on 127.0.0.1 and over the unix socket; the port and data directory stay the same across
 * stop/kill/start, so `url` is stable; the server never outlives the current process (see
 * {@link ManagedProcess}). When running as root, the server runs as the `postgres` account.
 * New clusters are copies of a cached initdb template, so a start costs a copy and a boot
 * (~0.1 s on tmpfs, ~0.25 s on disk), not an initdb (~0.5-1 s).
 */
export class LocalPostgres {
  readonly host = '127.0.0.1';
  readonly user = 'postgres';
  readonly database = 'postgres';
  private proc: ManagedProcess | null = null;
  private isDestroyed = false;
  private readonly unregisterCleanup: () => void;

  private constructor(
    private readonly binDir: string,
    private readonly serverUser: ServerUser | null,
    private readonly files: PreparedDataDir,
    private currentPort: number,
    private readonly isPortFixed: boolean,
    private readonly settings: Record<string, string | number>,
    private readonly startTimeoutMs: number,
  ) {
    this.unregisterCleanup = onProcessExit(() => removePaths(this.files.tempPaths));
  }

  /** Creates (or reuses) a cluster and starts it; resolves when it accepts connections. */
  static async start(opts: LocalPostgresOptions = {}): Promise<LocalPostgres> {
    const binDir = opts.binDir ?? findPostgresBinDir();
    if (binDir === null) {
      const hint = process.env['PG_BIN_DIR']
        ? `PG_BIN_DIR=${process.env['PG_BIN_DIR']} does not contain initdb, postgres and pg_ctl`
        : 'no directory with initdb, postgres and pg_ctl on PATH or in /usr/lib/postgresql/*/bin';
      throw new LocalServiceError(
        'BinaryNotFound',
        `${hint}; install the server (apt-get install postgresql-15) or set PG_BIN_DIR`,
      );
    }
    const user = postgresServerUser();
    const files = await prepareDataDir({ binDir, user, ...(opts.dataDir ? { dataDir: opts.dataDir } : {}) });
    const port = opts.port ?? (await freePort());
    const settings = { ...DEFAULT_POSTGRES_SETTINGS, ...opts.settings };
    const pg = new LocalPostgres(
      binDir,
      user,
      files,
      port,
      opts.port !== undefined,
      settings,
      opts.startTimeoutMs ?? 60_000,
    );
    try {
      await pg.startWithPortRetry();
    } catch (err) {
      await pg.discard();
      throw err;
    }
    return pg;
  }

  /** TCP port; fixed for the lifetime of the instance once the first start succeeded. */
  get port(): number {
    return this.currentPort;
  }

  /** `postgres://postgres@127.0.0.1:<port>/postgres` (no password: trust authentication). */
  get url(): string {
    return `postgres://${this.user}@${this.host}:${this.port}/${this.database}`;
  }

  /** The cluster's data directory (PGDATA). */
  get dataDir(): string {
    return this.files.dataDir;
  }

  /** The server's log file (stdout and stderr of the postmaster), kept across restarts. */
  get logFile(): string {
    return join(this.files.dataDir, 'walcast-postgres.log');
  }

  /** True while the postmaster process is alive (it may still be starting or stopping). */
  isRunning(): boolean {
    return this.proc?.isRunning() ?? false;
  }

  /** The last `n` lines of the server log, for failure messages. */
  logTail(n = 30): string[] {
    return lastLines(readLogFrom(this.logFile), n);
  }

  /**
   * Starts the server again on the same data directory and port, after stop() or kill(); crash
   * recovery runs if needed. Resolves when it accepts connections; a no-op when already running.
   */
  async start(): Promise<void> {
    this.assertUsable();
    if (this.isRunning()) return;
    const result = await this.spawnAndWait();
    if (result !== 'ready') throw this.startFailed(result);
  }

  /**
   * Stops the server: `smart` waits for clients to disconnect, `fast` (default) disconnects them,
   * `immediate` aborts without a checkpoint (the next start recovers). Resolves once the postmaster
   * and all its children have exited. Throws `StopFailed` when that takes too long.
   */
  async stop(mode: PostgresStopMode = 'fast'): Promise<void> {
    const proc = this.proc;
    if (proc === null || !proc.isRunning()) return;
    proc.signal(SIGNALS[mode]);
    if (await proc.waitForExit(STOP_TIMEOUT_MS[mode])) return;
    throw new LocalServiceError(
      'StopFailed',
      `postgres on port ${this.port} did not stop within ${STOP_TIMEOUT_MS[mode]} ms (mode ${mode}); ` +
        `use kill() or destroy()\n${this.logTail().join('\n')}`,
    );
  }

  /** Simulates a crash: SIGKILLs the postmaster and all its children; start() will run recovery. */
  async kill(): Promise<void> {
    await this.proc?.killTree();
  }

  /** stop(mode) followed by start(). */
  async restart(mode: PostgresStopMode = 'fast'): Promise<void> {
    await this.stop(mode);
    await this.start();
  }

  /**
   * Stops immediately (SIGKILL as a fallback) and deletes the data directory, including one passed
   * as `dataDir`. Idempotent. Use stop() to keep the data.
   */
  async destroy(): Promise<void> {
    if (this.isDestroyed) return;
    try {
      await this.stop('immediate');
    } catch {
      await this.kill(); // immediate shutdown hung; a crash is fine since the data is deleted next
    }
    this.isDestroyed = true;
    this.unregisterCleanup();
    removePaths(this.files.destroyPaths);
  }

  /** Cleans up after a failed first start, keeping a caller-provided data directory intact. */
  private async discard(): Promise<void> {
    this.isDestroyed = true;
    this.unregisterCleanup();
    await this.proc?.killTree().catch(() => undefined); // the start error is the one worth reporting
    removePaths(this.files.tempPaths);
  }

  private async startWithPortRetry(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const logOffset = fileSize(this.logFile);
      const result = await this.spawnAndWait();
      if (result === 'ready') return;
      const isPortTaken = /could not bind|Address already in use/i.test(readLogFrom(this.logFile, logOffset));
      if (!isPortTaken || this.isPortFixed || attempt >= PORT_ATTEMPTS) throw this.startFailed(result);
      this.currentPort = await freePort();
    }
  }

  private async spawnAndWait(): Promise<'ready' | 'exited' | 'timeout'> {
    let proc: ManagedProcess;
    try {
      proc = await ManagedProcess.spawn({
        command: join(this.binDir, 'postgres'),
        args: ['-D', this.files.dataDir, '-p', String(this.port), ...this.settingArgs()],
        logFile: this.logFile,
        user: this.serverUser,
        guardSignal: 'SIGQUIT',
        guardRemovePaths: this.files.tempPaths,
      });
    } catch (err) {
      throw new LocalServiceError(
        'StartFailed',
        `cannot execute ${join(this.binDir, 'postgres')}: ${String(err)}`,
        {
          cause: err,
        },
      );
    }
    this.proc = proc;
    const probe = async (): Promise<boolean> =>
      (await pingPostgres({ host: this.host, port: this.port })) === 'ready';
    const result = await waitUntilReady(proc, probe, this.startTimeoutMs);
    if (result === 'timeout') await proc.killTree();
    return result;
  }

  private settingArgs(): string[] {
    const all = { ...this.settings, unix_socket_directories: this.files.socketDir };
    return Object.entries(all).flatMap(([name, value]) => ['-c', `${name}=${value}`]);
  }

  private startFailed(result: 'exited' | 'timeout'): LocalServiceError {
    const what =
      result === 'exited' ? 'exited during start-up' : `was not ready within ${this.startTimeoutMs} ms`;
    const log = this.logTail().join('\n');
    const hint =
      this.serverUser !== null && /Permission denied/.test(log)
        ? `; as root the server runs as ${this.serverUser.name}, which needs search (x) permission ` +
          `on every parent directory of ${this.dataDir}`
        : '';
    return new LocalServiceError(
      'StartFailed',
      `postgres on port ${this.port} ${what} (data dir ${this.dataDir})${hint}; last log lines:\n${log}`,
    );
  }

  private assertUsable(): void {
    if (this.isDestroyed) throw new Error('LocalPostgres was destroyed; start a new instance');
  }
}

function removePaths(paths: string[]): void {
  for (const path of paths) rmSync(path, { recursive: true, force: true });
}
