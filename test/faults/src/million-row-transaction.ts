/**
 * The large-transaction scenario: one transaction of 1,000,000 rows, with the ingester's resident
 * memory and the table's change history in Redis sampled while it flows through. Bar: every row at
 * every observer, the slot confirmed past the commit (Redis accepted every publish), the ingester
 * under 300 MB, and the history within HISTORY_MAX_LEN (docs/fault-injection.md).
 */
import { readFileSync } from 'node:fs';

import { sql, waitFor } from '@walcast/test-utils';

import { TABLE, type Scenario, type ScenarioContext } from './harness';
import { HistorySampler } from './history-sampler';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const MB = 2 ** 20;
const RSS_LIMIT_BYTES = 300 * MB;

/** VmRSS of `pid` in bytes, from /proc/<pid>/status; 0 when the process is gone. */
function rssBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

const ROWS_1M = 1_000_000;
/** The ingester's default HISTORY_MAX_LEN, which the scenarios run with. */
const HISTORY_MAX_LEN = 10_000;
/**
 * What trimming may leave above HISTORY_MAX_LEN: it counts changes in packs of at most an eighth of
 * it and keeps up to two packs more (packages/bus/src/history-packs.ts), and Redis drops whole
 * stream nodes only (`MINID ~`; a node holds at most `stream-node-max-entries`, 100 by default).
 */
const HISTORY_TRIM_SLACK = 2 * Math.ceil(HISTORY_MAX_LEN / 8) + 100;
/** The history's memory bound: HISTORY_MAX_LEN changes of about 400 bytes, with room to spare. */
const HISTORY_BYTES_LIMIT = 16 * MB;

/**
 * The history stayed bounded by HISTORY_MAX_LEN however many rows the transaction had: its changes
 * and memory at every sample (rather than Redis's whole memory, which also holds the subscribers'
 * output buffers).
 */
function checkHistoryBounded(ctx: ScenarioContext, history: HistorySampler): void {
  const redisPeak = history.redisPeakBytes;
  ctx.notes.push(
    `history of public.${TABLE}: ${history.samples} samples (${history.failedSamples} failed), peak ` +
      `${history.peakChanges.toLocaleString('en')} changes (XLEN ${history.peakLength.toLocaleString('en')}), peak MEMORY USAGE ${(history.peakBytes / MB).toFixed(1)} MB; ` +
      `Redis used_memory_peak ${(redisPeak / MB).toFixed(0)} MB`,
  );
  ctx.checks.push({
    what: `history peak ${history.peakChanges.toLocaleString('en')} changes ≤ HISTORY_MAX_LEN + ${HISTORY_TRIM_SLACK}`,
    ok: history.samples > 0 && history.peakChanges <= HISTORY_MAX_LEN + HISTORY_TRIM_SLACK,
  });
  ctx.checks.push({
    what: `history peak memory ${(history.peakBytes / MB).toFixed(1)} MB < ${HISTORY_BYTES_LIMIT / MB} MB`,
    ok: history.samples > 0 && history.peakBytes < HISTORY_BYTES_LIMIT,
  });
}

export const millionRowTransaction: Scenario = {
  name: 'transaction-1m-rows',
  fast: false,
  gateways: 2,
  clientsPerGateway: 1,
  settleTimeoutMs: 60_000,
  async run(ctx) {
    const pid = ctx.stack.ingester!.pid;
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid))), 20);
    const history = await HistorySampler.start(ctx.backends.redis.url, 'public', TABLE);
    const started = Date.now();
    let walAfterCommit = '';
    try {
      await sql(
        ctx.backends.pg.url,
        `insert into ${TABLE} (id, note) select g, md5(g::text) from generate_series(1, ${ROWS_1M}) g`,
      );
      const [row] = await sql(ctx.backends.pg.url, 'select pg_current_wal_lsn()::text as lsn');
      walAfterCommit = String(row?.['lsn']);
      ctx.say(`committed ${ROWS_1M.toLocaleString('en')} rows in one transaction`);
      // Until the observer has every row, or nothing new arrived for 10 s (a subscriber that Redis
      // dropped never gets the rest; the tally then says what it lost).
      const committedAt = Date.now();
      while (
        ctx.redis.counts.distinct < ROWS_1M &&
        Date.now() - Math.max(committedAt, ctx.redis.lastDeliveryAt) < 10_000
      ) {
        await sleep(200);
      }
    } finally {
      clearInterval(sampler);
      await history.stop();
    }
    const seconds = (ctx.redis.lastDeliveryAt - started) / 1000;
    ctx.say(`${ctx.redis.counts.distinct.toLocaleString('en')} rows at the Redis observer`);
    // I1: the slot is confirmed past the commit only once Redis has accepted every PUBLISH before it.
    const isConfirmed = await waitFor(
      async () => {
        const [slot] = await sql(
          ctx.backends.pg.url,
          `select confirmed_flush_lsn >= '${walAfterCommit}'::pg_lsn as done
           from pg_replication_slots where slot_name = 'walcast'`,
        );
        return slot?.['done'] === true;
      },
      { timeoutMs: 120_000, intervalMs: 500, message: 'slot confirmed past the transaction' },
    ).catch(() => false);
    ctx.checks.push({
      what: 'slot confirmed past the commit (Redis accepted every PUBLISH)',
      ok: isConfirmed,
    });
    ctx.notes.push(
      `ingester RSS: baseline ${(baseline / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB ` +
        `(sampled every 20 ms; bar < 300 MB); last row at the Redis observer ${seconds.toFixed(1)} s ` +
        'after the insert began',
    );
    ctx.checks.push({
      what: `ingester peak RSS ${(peak / MB).toFixed(0)} MB < 300 MB`,
      ok: peak < RSS_LIMIT_BYTES,
    });
    checkHistoryBounded(ctx, history);
  },
};
