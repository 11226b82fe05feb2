/**
 * Ingest: rows/s from commit to Redis, replaying a backlog. The ingester's slot (`walcast`) and the
 * baselines' slots exist before the workload is written; the workload is written while nothing reads
 * (postgres.js, which can only stream from its own new temporary slot, is subscribed and paused);
 * then each consumer drains its own slot and is timed. Same WAL for all consumers.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { LocalPostgres, LocalRedis, findPostgresBinDir, freePort } from '@walcast/local-services';
import { patternForAll } from '@walcast/protocol';
import { INGESTER_ENTRY, spawnService, type ServiceProcess } from '@walcast/test-utils';
import { epochMs, median, nowMs, pollUntil, procCpuSeconds, type ResultRow } from './util';

export const ROWS = 200_000;
const REPEATS = 3;
const CONSUMER_TIMEOUT_MS = 180_000;
const PUBLICATION = 'supabase_realtime';
const PGOUTPUT_OPTS = `'proto_version','1','publication_names','${PUBLICATION}'`;

type Workload = 'one-tx' | 'many-tx';

interface RunResult {
  workloadMs: number;
  ingesterMs: number;
  ingesterFirstMs: number;
  ingesterCpuS: number;
  sqlMs: number;
  recvMs: number;
  pgjsMs: number;
  pgjsCpuS: number;
}

async function query(url: string, text: string): Promise<Array<Record<string, unknown>>> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

const COLS = 'n, s, j, ts, b, num, arr, big';
const VALUES_G = `g, 'row ' || g, jsonb_build_object('k', g, 'tag', 'bench'), now(), g % 2 = 0, g / 7.0, array['a', g::text], g * 1000`;

async function setupSchema(url: string): Promise<void> {
  await query(
    url,
    `create table t (id bigserial primary key, n int, s text, j jsonb, ts timestamptz, b bool,
       num numeric(10,2), arr text[], big bigint, bin bytea);
     create table flushmark (id int);
     create publication ${PUBLICATION} for table t;
     create procedure insert_many(cnt int) language plpgsql as $$
     begin
       for g in 1..cnt loop
         insert into t (${COLS}) values (${VALUES_G});
         commit;
       end loop;
     end $$;`,
  );
}

function ingesterEnv(pgUrl: string, redisUrl: string, healthPort: number): Record<string, string> {
  return {
    DATABASE_URL: pgUrl,
    REDIS_URL: redisUrl,
    SLOT_NAME: 'walcast',
    PUBLICATION,
    HEALTH_PORT: String(healthPort),
    LOG_LEVEL: 'warn',
    RECONNECT_MAX_DELAY: '1s',
  };
}

export async function startIngester(
  pgUrl: string,
  redisUrl: string,
  env: Record<string, string> = {},
): Promise<ServiceProcess> {
  const healthPort = await freePort();
  return spawnService({
    name: 'ingester',
    entry: INGESTER_ENTRY,
    env: { ...ingesterEnv(pgUrl, redisUrl, healthPort), ...env },
    readyUrl: `http://127.0.0.1:${healthPort}/readyz`,
  });
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
async function startPostgresJs(url: string): Promise<ChildProcess> {
  const child = fork(join(__dirname, 'baselines', 'postgresjs-subscriber.js'), [], {
    env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: url, PUBLICATION, ROWS: String(ROWS) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await nextMessage(child, 'ready', 30_000);
  child.kill('SIGSTOP');
  return child;
}

async function timePostgresJs(child: ChildProcess): Promise<{ ms: number; cpuS: number }> {
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

async function runOnce(
  pg: LocalPostgres,
  redis: LocalRedis,
  recvlogical: string,
  workload: Workload,
): Promise<RunResult> {
  const url = pg.url;
  // 1. Fresh table; every slot starts after the truncate.
  await query(url, `truncate t`);
  await query(
    url,
    `select pg_replication_slot_advance('walcast', greatest(pg_current_wal_lsn(), confirmed_flush_lsn))
       from pg_replication_slots where slot_name = 'walcast'`,
  );
  await query(
    url,
    `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name like 'b\\_%'`,
  );
  await query(
    url,
    `select pg_create_logical_replication_slot('b_sql', 'pgoutput'), pg_create_logical_replication_slot('b_recv', 'pgoutput')`,
  );

  const pgjs = await startPostgresJs(url);

  // 2. The workload, with nobody reading (postgres.js is stopped).
  const w0 = nowMs();
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    if (workload === 'one-tx') {
      await c.query(`insert into t (${COLS}) select ${VALUES_G} from generate_series(1, ${ROWS}) g`);
    } else {
      await c.query(`set synchronous_commit = off`);
      await c.query(`call insert_many(${ROWS})`);
      // a synchronous commit flushes all WAL before it, so every consumer can read to the end
      await c.query(`set synchronous_commit = on`);
      await c.query(`insert into flushmark values (1)`);
    }
  } finally {
    await c.end();
  }
  const workloadMs = nowMs() - w0;

  // 3a. Baseline: postgres.js subscribe, resumed.
  const pgjsRun = await timePostgresJs(pgjs);

  // 3. walcast: spawn the ingester, count rows arriving on Redis.
  const sub = new Redis(redis.url, { lazyConnect: true });
  await sub.connect();
  let received = 0;
  let firstAt = NaN;
  sub.on('pmessageBuffer', () => {
    if (received === 0) firstAt = nowMs();
    received++;
  });
  await sub.psubscribe(patternForAll());
  const i0 = nowMs();
  const ingester = await startIngester(url, redis.url);
  let ingesterMs = NaN;
  let ingesterCpuS = NaN;
  try {
    const done = await pollUntil(() => received >= ROWS || !ingester.isRunning(), CONSUMER_TIMEOUT_MS, 2);
    if (!done || received < ROWS) {
      throw new Error(`ingester: ${received}/${ROWS} rows on Redis\n${ingester.tail()}`);
    }
    ingesterMs = nowMs() - i0;
    ingesterCpuS = procCpuSeconds(ingester.pid);
  } finally {
    await ingester.stop();
    sub.disconnect();
  }
  if (received !== ROWS) console.warn(`  note: ${received} messages on Redis for ${ROWS} rows`);

  // 4. Baseline: server-side decoding only, timed in SQL.
  const s0 = nowMs();
  const [row] = await query(
    url,
    `select count(*) filter (where get_byte(data, 0) = 73) as inserts, max(lsn)::text as last
       from pg_logical_slot_get_binary_changes('b_sql', NULL, NULL, ${PGOUTPUT_OPTS})`,
  );
  const sqlMs = nowMs() - s0;
  if (Number(row?.['inserts']) !== ROWS)
    throw new Error(`SQL decode saw ${String(row?.['inserts'])} inserts`);
  const endLsn = String(row?.['last']);

  // 5. Baseline: pg_recvlogical + pgoutput to /dev/null, until the last commit's LSN.
  const r0 = nowMs();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(
      recvlogical,
      [
        '-d',
        url,
        '--slot',
        'b_recv',
        '--start',
        '--no-loop',
        '-f',
        '/dev/null',
        '--plugin=pgoutput',
        '-o',
        'proto_version=1',
        '-o',
        `publication_names=${PUBLICATION}`,
        `--endpos=${endLsn}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), CONSUMER_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`pg_recvlogical exited ${code}: ${err}`));
    });
  });
  const recvMs = nowMs() - r0;

  await query(
    url,
    `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name like 'b\\_%'`,
  );
  return {
    workloadMs,
    ingesterMs,
    ingesterFirstMs: firstAt - i0,
    ingesterCpuS,
    sqlMs,
    recvMs,
    pgjsMs: pgjsRun.ms,
    pgjsCpuS: pgjsRun.cpuS,
  };
}

export async function benchIngest(): Promise<ResultRow[]> {
  const pg = await LocalPostgres.start({
    settings: { shared_buffers: '512MB', logical_decoding_work_mem: '64MB', max_wal_size: '4GB' },
  });
  const redis = await LocalRedis.start();
  const rows: ResultRow[] = [];
  try {
    const recvlogical = join(findPostgresBinDir() ?? '/usr/bin', 'pg_recvlogical');
    await setupSchema(pg.url);
    // The ingester creates its slot when missing: start it once, wait until ready, stop it.
    const first = await startIngester(pg.url, redis.url);
    await first.waitForReady();
    await first.stop();

    for (const workload of ['one-tx', 'many-tx'] as const) {
      const runs: RunResult[] = [];
      for (let r = 0; r < REPEATS; r++) {
        const res = await runOnce(pg, redis, recvlogical, workload);
        runs.push(res);
        console.log(
          `  ingest ${workload} #${r + 1}: workload ${res.workloadMs.toFixed(0)} ms; ingester ${res.ingesterMs.toFixed(0)} ms ` +
            `(first row at ${res.ingesterFirstMs.toFixed(0)} ms, ${res.ingesterCpuS.toFixed(2)} CPU-s); ` +
            `SQL decode ${res.sqlMs.toFixed(0)} ms; pg_recvlogical ${res.recvMs.toFixed(0)} ms; ` +
            `postgres.js ${res.pgjsMs.toFixed(0)} ms (${res.pgjsCpuS.toFixed(2)} CPU-s since subscribing)`,
        );
      }
      const rate = (ms: number): number => ROWS / (ms / 1000);
      const ing = runs.map((x) => rate(x.ingesterMs));
      const recv = runs.map((x) => rate(x.recvMs));
      const sqlRates = runs.map((x) => rate(x.sqlMs));
      const pgjsRates = runs.map((x) => rate(x.pgjsMs));
      const label = workload === 'one-tx' ? '1 × 200k-row tx' : '200k × 1-row tx';
      rows.push({
        benchmark: `ingest ${label}, commit→Redis`,
        unit: 'rows/s',
        figure: median(ing),
        baselineName: 'pg_recvlogical pgoutput → /dev/null',
        baseline: median(recv),
        samples: ing,
        baselineSamples: recv,
        note: 'target ≥ 1.0×',
      });
      rows.push({
        benchmark: `ingest ${label}, commit→Redis`,
        unit: 'rows/s',
        figure: median(ing),
        baselineName: 'pg_logical_slot_get_binary_changes (server only)',
        baseline: median(sqlRates),
        samples: ing,
        baselineSamples: sqlRates,
      });
      rows.push({
        benchmark: `ingest ${label}, commit→Redis`,
        unit: 'rows/s',
        figure: median(ing),
        baselineName: 'postgres.js `subscribe`, connected, from SIGCONT',
        baseline: median(pgjsRates),
        samples: ing,
        baselineSamples: pgjsRates,
        note: 'target ≥ 1.3×',
      });
    }
  } finally {
    await pg.destroy().catch(() => undefined);
    await redis.destroy().catch(() => undefined);
  }
  return rows;
}
