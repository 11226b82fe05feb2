/**
 * Ingest: rows/s from commit to Redis for 200k rows, written as one transaction or as 200k
 * single-row transactions, by the ingester with its change history on (the default) and off, beside
 * `pg_recvlogical`, PostgreSQL's own decoding and postgres.js, all in the same run on the same WAL.
 *
 * Cold: every consumer's slot exists before the workload is written, nothing reads while it is
 * written, then each consumer is started in turn and drains its slot (the ingester's time includes
 * its start-up). Warm: the consumer is running and streaming when the workload is written, as a
 * user runs it; each consumer gets its own copy of the workload. Knobs: INGEST_MODES (cold,warm),
 * INGEST_SHAPES (one-tx,many-tx), INGEST_REPEATS (3).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalPostgres, LocalRedis, findPostgresBinDir } from '@walcast/local-services';
import {
  startIngester,
  startPostgresJs,
  timeIngesterCold,
  timeIngesterWarm,
  timePostgresJs,
  timeRecvlogicalCold,
  timeRecvlogicalWarm,
  type IngesterRun,
} from './ingest-consumers';
import {
  advanceSlots,
  decodeWithSql,
  dropBaselineSlots,
  emptyTable,
  expectedRecvOutput,
  recreateBaselineSlots,
  setupSchema,
  writeWorkload,
  type Workload,
} from './ingest-workload';
import { median, nowMs, type ResultRow } from './util';

const ROWS = 200_000;
const REPEATS = Number(process.env['INGEST_REPEATS'] ?? '3');
const MODES = (process.env['INGEST_MODES'] ?? 'cold,warm').split(',');
const SHAPES = (process.env['INGEST_SHAPES'] ?? 'one-tx,many-tx').split(',') as Workload[];
/** The ingester's slots: one per history setting, so both read the same WAL. */
const SLOTS = { on: 'walcast', off: 'walcast_nohist' } as const;
/** Most rows/s history may cost: the ingester with it keeps at least this share of its rate without. */
const HISTORY_TARGET = 0.85;

interface Context {
  pg: LocalPostgres;
  redis: LocalRedis;
  recvlogical: string;
  /** Where warm `pg_recvlogical` writes (tmpfs when there is one). */
  dir: string;
}

interface ColdRun {
  workloadMs: number;
  on: IngesterRun;
  off: IngesterRun;
  sqlMs: number;
  recvMs: number;
  pgjsMs: number;
  pgjsCpuS: number;
}

interface WarmRun {
  on: IngesterRun;
  off: IngesterRun;
  recvMs: number;
}

function target(ctx: Context, history: boolean) {
  return {
    pgUrl: ctx.pg.url,
    redisUrl: ctx.redis.url,
    slot: history ? SLOTS.on : SLOTS.off,
    history,
    rows: ROWS,
  };
}

function describe(run: IngesterRun): string {
  return (
    `${run.ms.toFixed(0)} ms (first row at ${run.firstMs.toFixed(0)} ms, ` +
    `${run.cpuS.toFixed(2)} CPU-s, Redis ${run.redisCpuS.toFixed(2)} CPU-s, ` +
    `counter ${run.counterCpuS.toFixed(2)} CPU-s)`
  );
}

async function runCold(ctx: Context, workload: Workload, rep: number): Promise<ColdRun> {
  const url = ctx.pg.url;
  await emptyTable(url);
  await advanceSlots(url, [SLOTS.on, SLOTS.off]);
  await recreateBaselineSlots(url, ['b_sql', 'b_recv']);
  const pgjs = await startPostgresJs(url, ROWS);
  const w0 = nowMs();
  await writeWorkload(url, workload, ROWS);
  const workloadMs = nowMs() - w0;
  const pgjsRun = await timePostgresJs(pgjs);
  // Alternate which history setting goes first: the second finds the WAL in the page cache too.
  const first = rep % 2 === 0;
  const a = await timeIngesterCold(target(ctx, first));
  const b = await timeIngesterCold(target(ctx, !first));
  const sql0 = nowMs();
  const decoded = await decodeWithSql(url, 'b_sql');
  const sqlMs = nowMs() - sql0;
  if (decoded.inserts !== ROWS) throw new Error(`SQL decode saw ${decoded.inserts} inserts`);
  const recvMs = await timeRecvlogicalCold(ctx.recvlogical, url, 'b_recv', decoded.lastLsn);
  await dropBaselineSlots(url);
  const [on, off] = first ? [a, b] : [b, a];
  return { workloadMs, on, off, sqlMs, recvMs, pgjsMs: pgjsRun.ms, pgjsCpuS: pgjsRun.cpuS };
}

/** The workload, returning when the clock starts: one transaction's commit, or the first of many. */
function writer(url: string, workload: Workload): () => Promise<number> {
  return async () => {
    const times = await writeWorkload(url, workload, ROWS);
    return workload === 'one-tx' ? times.commitAt : times.startAt;
  };
}

async function runWarm(ctx: Context, workload: Workload, rep: number): Promise<WarmRun> {
  const url = ctx.pg.url;
  const timed: Partial<WarmRun> = {};
  const consumers = ['on', 'off', 'recv'] as const;
  for (let i = 0; i < consumers.length; i++) {
    const consumer = consumers[(i + rep) % consumers.length]!;
    await emptyTable(url);
    if (consumer === 'recv') {
      await recreateBaselineSlots(url, ['b_sql', 'b_recv']);
      timed.recvMs = await timeRecvlogicalWarm(
        ctx.recvlogical,
        url,
        'b_recv',
        ctx.dir,
        writer(url, workload),
        async () => {
          const decoded = await expectedRecvOutput(url, 'b_sql');
          if (decoded.inserts !== ROWS) throw new Error(`SQL decode saw ${decoded.inserts} inserts`);
          return decoded;
        },
      );
      await dropBaselineSlots(url);
    } else {
      const history = consumer === 'on';
      await advanceSlots(url, [history ? SLOTS.on : SLOTS.off]);
      timed[consumer] = await timeIngesterWarm(target(ctx, history), writer(url, workload));
    }
  }
  return timed as WarmRun;
}

const rate = (ms: number): number => ROWS / (ms / 1000);

function row(
  benchmark: string,
  samples: number[],
  baselineName: string,
  baselineSamples: number[],
  note?: string,
): ResultRow {
  return {
    benchmark,
    unit: 'rows/s',
    figure: median(samples),
    baselineName,
    baseline: median(baselineSamples),
    samples,
    baselineSamples,
    ...(note ? { note } : {}),
  };
}

function historyNote(on: number[], off: number[]): string {
  const share = median(on) / median(off);
  const cost = share < 1 ? `${((1 - share) * 100).toFixed(1)}% fewer rows/s` : 'no fewer rows/s';
  return `history on: ${cost}; target ≤ 15%: ${share >= HISTORY_TARGET ? 'met' : 'missed'}`;
}

function coldRows(label: string, runs: ColdRun[], recvTarget: string): ResultRow[] {
  const on = runs.map((x) => rate(x.on.ms));
  const off = runs.map((x) => rate(x.off.ms));
  const recv = runs.map((x) => rate(x.recvMs));
  const name = `ingest ${label}, cold start, commit→Redis`;
  return [
    row(`${name}, history on`, on, 'the same, history off', off, historyNote(on, off)),
    row(`${name}, history on`, on, 'pg_recvlogical pgoutput → /dev/null', recv, recvTarget),
    row(`${name}, history off`, off, 'pg_recvlogical pgoutput → /dev/null', recv),
    row(
      `${name}, history on`,
      on,
      'pg_logical_slot_get_binary_changes (server only)',
      runs.map((x) => rate(x.sqlMs)),
    ),
    row(
      `${name}, history on`,
      on,
      'postgres.js `subscribe`, connected, from SIGCONT',
      runs.map((x) => rate(x.pgjsMs)),
      'target ≥ 1.3×',
    ),
  ];
}

function warmRows(label: string, runs: WarmRun[], recvTarget: string): ResultRow[] {
  const on = runs.map((x) => rate(x.on.ms));
  const off = runs.map((x) => rate(x.off.ms));
  const recv = runs.map((x) => rate(x.recvMs));
  const name = `ingest ${label}, warm (already streaming), commit→Redis`;
  return [
    row(`${name}, history on`, on, 'the same, history off', off, historyNote(on, off)),
    row(`${name}, history on`, on, 'pg_recvlogical, already streaming', recv, recvTarget),
    row(`${name}, history off`, off, 'pg_recvlogical, already streaming', recv),
  ];
}

async function benchShape(ctx: Context, workload: Workload): Promise<ResultRow[]> {
  const label = workload === 'one-tx' ? '1 × 200k-row tx' : '200k × 1-row tx';
  const recvTarget = workload === 'one-tx' ? 'target ≥ 1.0×' : 'target ≥ 1.3×';
  const rows: ResultRow[] = [];
  if (MODES.includes('cold')) {
    const runs: ColdRun[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const x = await runCold(ctx, workload, r);
      runs.push(x);
      console.log(
        `  ingest ${workload} cold #${r + 1}: workload ${x.workloadMs.toFixed(0)} ms; ` +
          `history on ${describe(x.on)}; history off ${describe(x.off)}; SQL decode ${x.sqlMs.toFixed(0)} ms; ` +
          `pg_recvlogical ${x.recvMs.toFixed(0)} ms; postgres.js ${x.pgjsMs.toFixed(0)} ms ` +
          `(${x.pgjsCpuS.toFixed(2)} CPU-s since subscribing)`,
      );
    }
    rows.push(...coldRows(label, runs, 'target ≥ 1.0×'));
  }
  if (MODES.includes('warm')) {
    const runs: WarmRun[] = [];
    for (let r = 0; r < REPEATS; r++) {
      const x = await runWarm(ctx, workload, r);
      runs.push(x);
      console.log(
        `  ingest ${workload} warm #${r + 1}: history on ${describe(x.on)}; history off ${describe(x.off)}; ` +
          `pg_recvlogical ${x.recvMs.toFixed(0)} ms`,
      );
    }
    rows.push(...warmRows(label, runs, recvTarget));
  }
  return rows;
}

export async function benchIngest(): Promise<ResultRow[]> {
  const pg = await LocalPostgres.start({
    settings: { shared_buffers: '512MB', logical_decoding_work_mem: '64MB', max_wal_size: '4GB' },
  });
  const redis = await LocalRedis.start();
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'walcast-bench-ingest-'));
  try {
    const recvlogical = join(findPostgresBinDir() ?? '/usr/bin', 'pg_recvlogical');
    await setupSchema(pg.url);
    // The ingester creates its slot when missing: start it once per slot, wait until ready, stop it.
    for (const slot of Object.values(SLOTS)) {
      const first = await startIngester(pg.url, redis.url, { SLOT_NAME: slot });
      await first.waitForReady();
      await first.stop();
    }
    const ctx: Context = { pg, redis, recvlogical, dir };
    const rows: ResultRow[] = [];
    for (const workload of SHAPES) rows.push(...(await benchShape(ctx, workload)));
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await pg.destroy().catch(() => undefined);
    await redis.destroy().catch(() => undefined);
  }
}
