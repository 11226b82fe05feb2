import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { onProcessExit } from './exit-cleanup';
import { findRedisServer } from './find-redis-server';
import { freePort } from './free-port';
import { LocalServiceError } from './local-service-error';
import { fileSize, lastLines, readLogFrom } from './log-file';
import { ManagedProcess } from './managed-process';
import { pingRedis, sendRedisCommand } from './redis-ping';
import { scratchDir } from './scratch-dir';
import { waitUntilReady } from './wait-until-ready';

/** Options for {@link LocalRedis.start}. */
export interface LocalRedisOptions {
  /** TCP port on 127.0.0.1; default: a free port (retried if another process takes it first). */
  port?: number;
  /** Path of `redis-server`; default {@link findRedisServer}. */
  binPath?: string;
  /** How long to wait for `PING` to answer, per start. Default 20 000. */
  startTimeoutMs?: number;
  /**
   * Keep data across stop/kill/start in an append-only file written on every command
   * (`appendfsync always`), as a Redis whose restarts must lose nothing is run. Default false.
   */
  appendOnly?: boolean;
  /**
   * Run as a Redis Cluster node (`--cluster-enabled yes`): its node configuration stays in its
   * directory, so a restarted node rejoins with the same identity; the cluster bus listens on a
   * port of its own (`clusterBusPort`). Forming the cluster is {@link LocalRedisCluster}'s job.
   */
  cluster?: { nodeTimeoutMs: number; requireFullCoverage: boolean };
}

const PORT_ATTEMPTS = 5;
const STOP_TIMEOUT_MS = 10_000;

/**
 * A throwaway Redis server run from the local `redis-server` binary, for tests and `pnpm dev`.
 *
 * Guarantees: listens on 127.0.0.1 only, without persistence (`--save '' --appendonly no`), so a
 * restart starts empty, unless `appendOnly` (then a restart, even after a kill, keeps everything
 * Redis answered); the port stays the same across stop/kill/start, so `url` is stable; the
 * server never outlives the current process (see {@link ManagedProcess}).
 */
export class LocalRedis {
  readonly host = '127.0.0.1';
  private proc: ManagedProcess | null = null;
  private isDestroyed = false;
  private busPort = 0;
  private readonly unregisterCleanup: () => void;

  private constructor(
    private readonly binPath: string,
    /** Working directory (`--dir`) holding the log file; removed by destroy(). */
    readonly dir: string,
    private currentPort: number,
    private readonly isPortFixed: boolean,
    private readonly startTimeoutMs: number,
    private readonly appendOnly: boolean,
    private readonly cluster: LocalRedisOptions['cluster'] | null,
  ) {
    this.unregisterCleanup = onProcessExit(() => rmSync(dir, { recursive: true, force: true }));
  }

  /** Starts a new server; resolves when it answers `PING`. */
  static async start(opts: LocalRedisOptions = {}): Promise<LocalRedis> {
    const binPath = opts.binPath ?? findRedisServer();
    if (binPath === null) {
      throw new LocalServiceError(
        'BinaryNotFound',
        'redis-server not found on PATH, /usr/bin or /usr/local/bin; install it (apt-get install redis-server) ' +
          'or set REDIS_SERVER_BIN',
      );
    }
    const dir = mkdtempSync(join(scratchDir(null), 'walcast-redis-'));
    const port = opts.port ?? (await freePort());
    const redis = new LocalRedis(
      binPath,
      dir,
      port,
      opts.port !== undefined,
      opts.startTimeoutMs ?? 20_000,
      opts.appendOnly ?? false,
      opts.cluster ?? null,
    );
    try {
      await redis.startWithPortRetry();
    } catch (err) {
      await redis.destroy().catch(() => undefined); // the start error is the one worth reporting
      throw err;
    }
    return redis;
  }

  /** TCP port; fixed for the lifetime of the instance once the first start succeeded. */
  get port(): number {
    return this.currentPort;
  }

  /** The cluster bus port (cluster nodes only; 0 otherwise), fixed like `port`. */
  get clusterBusPort(): number {
    return this.busPort;
  }

  /** `redis://127.0.0.1:<port>` (no password). */
  get url(): string {
    return `redis://${this.host}:${this.port}`;
  }

  /** The server's log file, kept across restarts. */
  get logFile(): string {
    return join(this.dir, 'redis.log');
  }

  /** True while the redis-server process is alive. */
  isRunning(): boolean {
    return this.proc?.isRunning() ?? false;
  }

  /** The last `n` lines of the server log, for failure messages. */
  logTail(n = 30): string[] {
    return lastLines(readLogFrom(this.logFile), n);
  }

  /** Starts the server again on the same port (empty unless `appendOnly`); no-op when running. */
  async start(): Promise<void> {
    if (this.isDestroyed) throw new Error('LocalRedis was destroyed; start a new instance');
    if (this.isRunning()) return;
    const result = await this.spawnAndWait();
    if (result !== 'ready') throw this.startFailed(result);
  }

  /**
   * Stops the server with `SHUTDOWN NOSAVE`, falling back to SIGTERM, and resolves once the process
   * has exited. Throws `StopFailed` if it is still alive after 10 s.
   */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (proc === null || !proc.isRunning()) return;
    const command = this.appendOnly ? 'SHUTDOWN' : 'SHUTDOWN NOSAVE';
    await sendRedisCommand({ host: this.host, port: this.port, command, timeoutMs: 1000 });
    if (await proc.waitForExit(1000)) return;
    proc.signal('SIGTERM');
    if (await proc.waitForExit(STOP_TIMEOUT_MS)) return;
    throw new LocalServiceError(
      'StopFailed',
      `redis-server on port ${this.port} did not stop within ${STOP_TIMEOUT_MS} ms; use kill() or destroy()`,
    );
  }

  /** Simulates a crash: SIGKILLs the server and waits until it is gone. */
  async kill(): Promise<void> {
    await this.proc?.killTree();
  }

  /** stop() followed by start(). */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Kills the server and removes its directory. Idempotent. */
  async destroy(): Promise<void> {
    if (this.isDestroyed) return;
    await this.kill(); // the directory goes too: a graceful shutdown buys nothing
    this.isDestroyed = true;
    this.unregisterCleanup();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async startWithPortRetry(): Promise<void> {
    if (this.cluster) this.busPort = await freePort();
    for (let attempt = 1; ; attempt++) {
      const logOffset = fileSize(this.logFile);
      const result = await this.spawnAndWait();
      if (result === 'ready') return;
      const isPortTaken = /Address already in use/i.test(readLogFrom(this.logFile, logOffset));
      if (!isPortTaken || this.isPortFixed || attempt >= PORT_ATTEMPTS) throw this.startFailed(result);
      this.currentPort = await freePort();
      if (this.cluster) this.busPort = await freePort();
    }
  }

  private async spawnAndWait(): Promise<'ready' | 'exited' | 'timeout'> {
    const persistence = this.appendOnly
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no'];
    const cluster = this.cluster
      ? [
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-port',
          String(this.busPort),
          '--cluster-node-timeout',
          String(this.cluster.nodeTimeoutMs),
          '--cluster-require-full-coverage',
          this.cluster.requireFullCoverage ? 'yes' : 'no',
          // A node learns its own address from the nodes that MEET it; a cluster of one master never
          // does and would answer CLUSTER SLOTS with an empty host, which clients cannot connect to.
          '--cluster-announce-ip',
          '127.0.0.1',
          // A replica's first sync starts at once (Redis waits 5 s for more replicas by default).
          '--repl-diskless-sync-delay',
          '0',
        ]
      : [];
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      ...persistence,
      ...cluster,
    ];
    let proc: ManagedProcess;
    try {
      proc = await ManagedProcess.spawn({
        command: this.binPath,
        args: [...args, '--daemonize', 'no', '--dir', this.dir],
        logFile: this.logFile,
        guardSignal: 'SIGKILL',
        guardRemovePaths: [this.dir],
      });
    } catch (err) {
      throw new LocalServiceError('StartFailed', `cannot execute ${this.binPath}: ${String(err)}`, {
        cause: err,
      });
    }
    this.proc = proc;
    const result = await waitUntilReady(
      proc,
      () => pingRedis({ host: this.host, port: this.port }),
      this.startTimeoutMs,
    );
    if (result === 'timeout') await proc.killTree();
    return result;
  }

  private startFailed(result: 'exited' | 'timeout'): LocalServiceError {
    const what =
      result === 'exited' ? 'exited during start-up' : `was not ready within ${this.startTimeoutMs} ms`;
    return new LocalServiceError(
      'StartFailed',
      `redis-server on port ${this.port} ${what}; last log lines:\n${this.logTail().join('\n')}`,
    );
  }
}
