// A 100,000-row transaction arrives complete while the ingester's memory stays bounded (its
// in-flight limits pause WAL reading instead of buffering the whole transaction).
import { readFileSync } from 'node:fs';

import { type WalcastStack, sql, waitFor, type Backends, startStackWithSchema } from '@walcast/test-utils';

import { BusTap } from './support';

// jest.config.js sets testTimeout per project, which jest 30 ignores (the default 5 s applies).
jest.setTimeout(60_000);

const ROWS = 100_000;
const MB = 2 ** 20;
const RSS_LIMIT_BYTES = 300 * MB;

let backends: Backends;
let stack: WalcastStack;
let nextId = 1;

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table public.t (id int primary key, body text, created timestamptz default now())',
      'create publication supabase_realtime for all tables',
    ],
    { gateways: 0 },
  ));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
});

/** VmRSS of `pid` in bytes, from /proc/<pid>/status. */
function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

interface Run {
  distinctIds: number;
  commitLsns: number;
  malformed: number;
  baseline: number;
  peak: number;
  seconds: number;
}

/** Inserts ROWS rows in one transaction and waits until a Redis subscriber has seen every id. */
async function bigTransaction(sampleMs: number): Promise<Run> {
  const first = nextId;
  nextId += ROWS;
  const ids = new Set<number>();
  const lsns = new Set<string>();
  const tap = await BusTap.open(backends.redis.url, {
    keep: false,
    onMessage: (m) => {
      const id = m.event.record?.['id'];
      if (typeof id === 'number' && id >= first) ids.add(id);
      lsns.add(m.header.lsn);
    },
  });
  const pid = stack.ingester!.pid;
  const baseline = rssBytes(pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // the process is gone; the caller's assertions say so
    }
  }, sampleMs);
  const started = Date.now();
  try {
    await sql(
      backends.pg.url,
      `insert into t select g, md5(g::text) from generate_series(${first}, ${first + ROWS - 1}) g`,
    );
    await waitFor(() => ids.size >= ROWS, {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: `all ${ROWS} rows (have ${ids.size})`,
    });
  } finally {
    clearInterval(sampler);
    await tap.close();
  }
  const run = {
    distinctIds: ids.size,
    commitLsns: lsns.size,
    malformed: tap.malformed.length,
    baseline,
    peak,
    seconds: (Date.now() - started) / 1000,
  };
  process.stdout.write(
    `large transaction: ${ROWS} rows in ${run.seconds.toFixed(1)} s; ingester RSS baseline ` +
      `${(baseline / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB (sampled every ${sampleMs} ms)\n`,
  );
  return run;
}

describe('large transaction', () => {
  it(`delivers a ${ROWS.toLocaleString('en')}-row single transaction complete`, async () => {
    const run = await bigTransaction(100);
    expect(run.distinctIds).toBe(ROWS);
    expect(run.commitLsns).toBe(1); // one transaction, one commit LSN
    expect(run.malformed).toBe(0);
    expect(stack.ingester!.isRunning()).toBe(true);
  });

  // The default MAX_IN_FLIGHT is 5,000: 20,000 let dead in-flight publishes pile up in old space
  // (330-370 MB peaks) at the same throughput. Up to 5 attempts, because the peak depends on GC timing.
  it('keeps the ingester under 300 MB RSS with the default MAX_IN_FLIGHT', async () => {
    // A fresh process: RSS left over from the previous test must not count.
    await stack.ingester!.stop();
    await stack.startIngester();
    let peak = 0;
    for (let attempt = 0; attempt < 5 && peak < RSS_LIMIT_BYTES; attempt++) {
      const run = await bigTransaction(20);
      expect(run.distinctIds).toBe(ROWS);
      peak = Math.max(peak, run.peak);
    }
    expect(peak).toBeLessThan(RSS_LIMIT_BYTES);
  });

  it('stays well under 300 MB RSS with MAX_IN_FLIGHT=5000', async () => {
    await stack.ingester!.stop();
    await stack.startIngester({ MAX_IN_FLIGHT: '5000' });
    const run = await bigTransaction(20);
    expect(run.distinctIds).toBe(ROWS);
    expect(run.commitLsns).toBe(1);
    expect(run.peak).toBeLessThan(RSS_LIMIT_BYTES);
  });
});
