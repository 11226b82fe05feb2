/**
 * The consumers the ingest benchmark times, each on its own slot: the ingester (history on or off),
 * `pg_recvlogical` and postgres.js `subscribe`. Cold: the consumer starts after the workload was
 * written and drains the backlog. Warm: it is running and streaming when the workload is written,
 * as a user runs it.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '@walcast/local-services';
import { patternForAll } from '@walcast/protocol';
import { INGESTER_ENTRY, spawnService, type ServiceProcess } from '@walcast/test-utils';
import { PUBLICATION, query } from './ingest-workload';
import { RedisMessageCounter } from './redis-message-counter';
import { profileArgs } from './servers';
import { epochMs, pollUntil, procCpuSeconds, sleep } from './util';

export const CONSUMER_TIMEOUT_MS = 180_000;

/** `redisUrl` may be '' when `env` gives REDIS_CLUSTER_NODES instead. */
export async function startIngester(
  pgUrl: string,
  redisUrl: string,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<ServiceProcess> {
  const healthPort = await freePort();
  return spawnService({
    name: 'ingester',
    entry: INGESTER_ENTRY,
    env: {
      DATABASE_URL: pgUrl,
      ...(redisUrl ? { REDIS_URL: redisUrl } : {}),
      SLOT_NAME: 'walcast',
      PUBLICATION,
      HEALTH_PORT: String(healthPort),
      LOG_LEVEL: 'warn',
      RECONNECT_MAX_DELAY: '1s',
      ...env,
    },
    nodeArgs,
    readyUrl: `http://127.0.0.1:${healthPort}/readyz`,
  });
}

/** Counts the table changes arriving on Redis (one pattern subscription, as a gateway with `realtime:*`). */
function startCounter(redisUrl: string): Promise<RedisMessageCounter> {
  return RedisMessageCounter.start(redisUrl, patternForAll());
}

/** CPU seconds this (the driver) process used since `from` (counting is most of it). */
function driverCpuSeconds(from: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(from);
  return (used.user + used.system) / 1e6;
}

/** Redis's own CPU time (main and I/O threads), from INFO. */
async function redisCpuSeconds(redisUrl: string): Promise<number> {
  const admin = new Redis(redisUrl);
  try {
    const info = await admin.info('cpu');
    const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1]);
    return field('used_cpu_user') + field('used_cpu_sys');
  } finally {
    admin.disconnect();
  }
}

export interface IngesterRun {
  /** From the clock's start (cold: spawn; warm: see `timeIngesterWarm`) to the last row on Redis. */
  ms: number;
  /** From the clock's start to the first row on Redis. */
  firstMs: number;
  /** The ingester's CPU seconds: cold, all of them; warm, those spent from the workload on. */
  cpuS: number;
  /** Redis's CPU seconds over the same span. */
  redisCpuS: number;
  /** The driver's (the counting subscriber's) CPU seconds over the same span. */
  counterCpuS: number;
}

export interface IngesterTarget {
  pgUrl: string;
  redisUrl: string;
  slot: string;
  history: boolean;
  rows: number;
}

function ingesterEnv(target: IngesterTarget): Record<string, string> {
  return { SLOT_NAME: target.slot, HISTORY: String(target.history) };
}

async function untilAllRows(
  counter: RedisMessageCounter,
  ingester: ServiceProcess,
  rows: number,
): Promise<void> {
  const done = await pollUntil(
    () => counter.received >= rows || !ingester.isRunning(),
    CONSUMER_TIMEOUT_MS,
    2,
  );
  if (!done || counter.received < rows) {
    throw new Error(`ingester: ${counter.received}/${rows} rows on Redis\n${ingester.tail()}`);
  }
}

/** Cold: the clock starts just before the ingester is spawned, with the workload already in the slot. */
export async function timeIngesterCold(target: IngesterTarget): Promise<IngesterRun> {
  const counter = await startCounter(target.redisUrl);
  const redis0 = await redisCpuSeconds(target.redisUrl);
  const driver0 = process.cpuUsage();
  const t0 = epochMs();
  const ingester = await startIngester(target.pgUrl, target.redisUrl, ingesterEnv(target), profileArgs());
  try {
    await untilAllRows(counter, ingester, target.rows);
    return {
      ms: counter.lastAt - t0,
      firstMs: counter.firstAt - t0,
      cpuS: procCpuSeconds(ingester.pid),
      counterCpuS: driverCpuSeconds(driver0),
      redisCpuS: (await redisCpuSeconds(target.redisUrl)) - redis0,
    };
  } finally {
    await ingester.stop();
    counter.close();
  }
}

/**
 * Warm: the ingester is started and streaming (ready) first; then `write` writes the workload and
 * returns when the clock starts (epoch ms; one transaction: its commit, since nothing can be
 * decoded before it; single-row transactions: the first one's start).
 */
export async function timeIngesterWarm(
  target: IngesterTarget,
  write: () => Promise<number>,
): Promise<IngesterRun> {
  const ingester = await startIngester(target.pgUrl, target.redisUrl, ingesterEnv(target), profileArgs());
  const counter = await startCounter(target.redisUrl);
  try {
    await ingester.waitForReady();
    const cpu0 = procCpuSeconds(ingester.pid);
    const redis0 = await redisCpuSeconds(target.redisUrl);
    const driver0 = process.cpuUsage();
    const t0 = await write();
    await untilAllRows(counter, ingester, target.rows);
    return {
      ms: counter.lastAt - t0,
      firstMs: counter.firstAt - t0,
      cpuS: procCpuSeconds(ingester.pid) - cpu0,
      counterCpuS: driverCpuSeconds(driver0),
      redisCpuS: (await redisCpuSeconds(target.redisUrl)) - redis0,
    };
  } finally {
    await ingester.stop();
    counter.close();
  }
}

function recvlogicalArgs(url: string, slot: string, out: string): string[] {
  return [
    '-d',
    url,
    '--slot',
    slot,
    '--start',
    '--no-loop',
    '-f',
    out,
    '--fsync-interval=0',
    '--plugin=pgoutput',
    '-o',
    'proto_version=1',
    '-o',
    `publication_names=${PUBLICATION}`,
  ];
}

/** Resolves when the child exits with 0; rejects with its stderr otherwise. */
function exitOf(child: ChildProcess & { stderr: NodeJS.ReadableStream }): Promise<void> {
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), CONSUMER_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 || signal === 'SIGINT') resolve();
      else reject(new Error(`pg_recvlogical exited ${code ?? signal}: ${err}`));
    });
  });
}

/** Cold: `pg_recvlogical` to /dev/null until `endLsn`, timed from spawn to exit (ms). */
export async function timeRecvlogicalCold(
  bin: string,
  url: string,
  slot: string,
  endLsn: string,
): Promise<number> {
  const t0 = epochMs();
  const child = spawn(bin, [...recvlogicalArgs(url, slot, '/dev/null'), `--endpos=${endLsn}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await exitOf(child);
  return epochMs() - t0;
}

/**
 * Warm: `pg_recvlogical` streaming into a file (on tmpfs) before the workload is written. It has
 * no end position to stop at, so the end is the file's last write: once its size stops growing,
 * the file is checked against `expected()` (from the SQL decoding of a twin slot: at least its
 * bytes, ending with its last COMMIT), and the file's modification time is the moment its last byte
 * arrived. Returns ms from the clock's start.
 */
export async function timeRecvlogicalWarm(
  bin: string,
  url: string,
  slot: string,
  dir: string,
  write: () => Promise<number>,
  expected: () => Promise<{ outputBytes: number; lastMessage: Buffer }>,
): Promise<number> {
  const out = join(dir, `${slot}.out`);
  rmSync(out, { force: true }); // pg_recvlogical appends
  const child = spawn(bin, recvlogicalArgs(url, slot, out), { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = exitOf(child);
  try {
    if (!(await waitActive(url, slot)))
      throw new Error(`pg_recvlogical did not start streaming from ${slot}`);
    const t0 = await write();
    await untilStable(out);
    const { outputBytes, lastMessage } = await expected();
    const isComplete = (): boolean => sizeOf(out) >= outputBytes && endsWith(out, lastMessage);
    if (!(await pollUntil(isComplete, CONSUMER_TIMEOUT_MS, 5)))
      throw new Error(
        `pg_recvlogical wrote ${sizeOf(out)} bytes without the last commit (${outputBytes} expected)`,
      );
    return statSync(out).mtimeMs - t0;
  } finally {
    child.kill('SIGINT');
    await exited;
  }
}

function endsWith(file: string, tail: Buffer): boolean {
  const size = sizeOf(file);
  if (size < tail.length) return false;
  const fd = openSync(file, 'r');
  try {
    const last = Buffer.alloc(tail.length);
    readSync(fd, last, 0, tail.length, size - tail.length);
    return last.equals(tail);
  } finally {
    closeSync(fd);
  }
}

async function waitActive(url: string, slot: string): Promise<boolean> {
  const deadline = epochMs() + 30_000;
  while (epochMs() < deadline) {
    const [row] = await query(url, `select active from pg_replication_slots where slot_name = '${slot}'`);
    if (row?.['active'] === true) return true;
    await sleep(20);
  }
  return false;
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Waits until `file` has not grown for a second. */
async function untilStable(file: string): Promise<void> {
  let size = -1;
  let since = epochMs();
  await pollUntil(
    () => {
      const now = sizeOf(file);
      if (now !== size) {
        size = now;
        since = epochMs();
      }
      return size > 0 && epochMs() - since >= 1000;
    },
    CONSUMER_TIMEOUT_MS,
    10,
  );
}

/** Resolves with the child's next IPC message of `type`; rejects on an 'error' message, exit or timeout. */
function nextMessage(child: ChildProcess, type: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no ${type} within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: Record<string, unknown>): void => {
      if (m['type'] === 'error') done(new Error(String(m['message'])));
      else if (m['type'] === type) done(null, m);
    };
    const onExit = (code: number | null): void => done(new Error(`exited with ${code} before ${type}`));
    function done(err: Error | null, m?: Record<string, unknown>): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m!);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/**
 * postgres.js `subscribe` can only read WAL written after it connected (its slot is temporary and
 * created at the current position), so it subscribes before the workload, is paused with SIGSTOP
 * while the workload is written, and is timed from SIGCONT to its last row.
 */
export async function startPostgresJs(url: string, rows: number): Promise<ChildProcess> {
  const child = fork(join(__dirname, 'baselines', 'postgresjs-subscriber.js'), [], {
    env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: url, PUBLICATION, ROWS: String(rows) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await nextMessage(child, 'ready', 30_000);
  child.kill('SIGSTOP');
  return child;
}

export async function timePostgresJs(child: ChildProcess): Promise<{ ms: number; cpuS: number }> {
  try {
    const done = nextMessage(child, 'done', CONSUMER_TIMEOUT_MS);
    const t0 = epochMs();
    child.kill('SIGCONT');
    const m = await done;
    return { ms: Number(m['at']) - t0, cpuS: Number(m['cpuS']) };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}
