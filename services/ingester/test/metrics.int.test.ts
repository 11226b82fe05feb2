// The ingester's /metrics (Prometheus text) and the slot monitor: published changes, state, slot
// lag figures, and the SLOT_LAG_WARN warning logged once per crossing.
import { type WalcastStack, sql, waitFor, type Backends, startStackWithSchema } from '@walcast/test-utils';

import { BusTap } from './support';

jest.setTimeout(30_000);

let backends: Backends;
let stack: WalcastStack;

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table public.items (id int primary key, body text)',
      'create publication supabase_realtime for table public.items',
    ],
    {
      gateways: 0,
      // A 64 KiB threshold that a few hundred rows exceed, read every 200 ms.
      ingesterEnv: { SLOT_LAG_WARN: '64KiB', SLOT_CHECK_INTERVAL: '200ms', STATUS_INTERVAL: '1s' },
    },
  ));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
});

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${stack.healthPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  return res.text();
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('/metrics', () => {
  it('counts published changes and reports state, confirmed LSN and slot figures', async () => {
    const tap = await BusTap.open(backends.redis.url);
    try {
      const before = value(await scrape(), 'walcast_ingester_changes_published_total') ?? NaN;
      await sql(backends.pg.url, `insert into items select i, md5(i::text) from generate_series(1, 300) i`);
      await waitFor(() => tap.count === 300, { timeoutMs: 10_000, message: '300 rows on the bus' });
      await waitFor(
        async () => value(await scrape(), 'walcast_ingester_changes_published_total') === before + 300,
        { timeoutMs: 5000, message: '300 changes counted' },
      );
      const text = await scrape();
      expect(value(text, 'walcast_ingester_bytes_published_total')).toBeGreaterThan(300 * 50);
      expect(value(text, 'walcast_ingester_state{state="streaming"}')).toBe(1);
      expect(value(text, 'walcast_ingester_state{state="retrying"}')).toBe(0);
      expect(value(text, 'walcast_ingester_redis_ready')).toBe(1);
      expect(value(text, 'walcast_ingester_stream_sessions_total')).toBe(1);
      // One transaction, confirmed: one observation of commit-to-publish, well under a minute.
      expect(value(text, 'walcast_ingester_commit_to_publish_seconds_count')).toBeGreaterThanOrEqual(1);
      expect(value(text, 'walcast_ingester_commit_to_publish_seconds_bucket{le="30"}')).toBe(
        value(text, 'walcast_ingester_commit_to_publish_seconds_count'),
      );
      await waitFor(async () => (value(await scrape(), 'walcast_ingester_confirmed_lsn') ?? 0) > 0, {
        timeoutMs: 5000,
        message: 'a confirmed LSN',
      });
      // Read every 200 ms: soon a reading shows the slot streaming.
      await waitFor(async () => value(await scrape(), 'walcast_slot_active') === 1, {
        timeoutMs: 5000,
        message: 'a slot reading with the slot active',
      });
      const slot = await scrape();
      // 0 is possible: restart_lsn may have caught up with the server's position.
      expect(value(slot, 'walcast_slot_retained_wal_bytes')).toBeGreaterThanOrEqual(0);
      expect(value(slot, 'walcast_slot_confirmed_lag_bytes')).toBeGreaterThanOrEqual(0);
      expect(value(slot, 'walcast_slot_active')).toBe(1);
      expect(value(slot, 'walcast_slot_lost')).toBe(0);
      expect(value(slot, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      // Labels stay bounded: no table or topic names.
      expect(slot).not.toContain('items');
    } finally {
      await tap.close();
    }
  });
});

describe('slot lag warning', () => {
  it('warns once when retained WAL passes SLOT_LAG_WARN, with the figures and no repeat per check', async () => {
    // Retained WAL only shrinks when restart_lsn moves, which needs a checkpoint; keep it growing.
    await sql(
      backends.pg.url,
      `insert into items select i, repeat('x', 500) from generate_series(1001, 2000) i`,
    );
    const ingester = stack.ingester!;
    await waitFor(() => ingester.logs.some((l) => l['code'] === 'SlotLag'), {
      timeoutMs: 10_000,
      message: 'a SlotLag warning',
    });
    const warning = ingester.logs.find((l) => l['code'] === 'SlotLag')!;
    expect(warning['level']).toBe('warn');
    expect(warning['retainedBytes']).toBeGreaterThan(64 * 1024);
    expect(warning['warnBytes']).toBe(64 * 1024);
    // Several checks later (200 ms apart), still exactly one warning. Each check is seen in the
    // retained-WAL gauge changing after more WAL was written.
    for (let i = 0; i < 3; i++) {
      const before = value(await scrape(), 'walcast_slot_retained_wal_bytes');
      const from = 3000 + i * 1000;
      await sql(
        backends.pg.url,
        `insert into items select i, repeat('x', 500) from generate_series(${from}, ${from + 999}) i`,
      );
      await waitFor(async () => value(await scrape(), 'walcast_slot_retained_wal_bytes') !== before, {
        timeoutMs: 10_000,
        message: 'a later slot check',
      });
    }
    expect(ingester.logs.filter((l) => l['code'] === 'SlotLag')).toHaveLength(1);
  });
});
