// What the ingester checks before streaming (wal_level, publication, slot), against real servers:
// each failure makes it not ready with a warn log saying what to do, and it keeps retrying instead
// of crashing. I3: the slot is created once, survives shutdown and is reused.
import {
  INGESTER_ENTRY,
  freePort,
  spawnService,
  sql,
  startBackends,
  waitFor,
  type Backends,
  type ServiceProcess,
} from '@walcast/test-utils';

import { BusTap, logsWithCode, readyStatus, slotRow } from './support';

// jest.config.js sets testTimeout per project, which jest 30 ignores (the default 5 s applies).
jest.setTimeout(30_000);

const processes: ServiceProcess[] = [];

async function startIngester(backends: Backends, healthPort: number): Promise<ServiceProcess> {
  const proc = await spawnService({
    name: 'ingester',
    entry: INGESTER_ENTRY,
    env: {
      DATABASE_URL: backends.pg.url,
      REDIS_URL: backends.redis.url,
      HEALTH_PORT: String(healthPort),
      SLOT_NAME: 'walcast',
      PUBLICATION: 'supabase_realtime',
      RECONNECT_MAX_DELAY: '300ms',
      LOG_LEVEL: 'debug', // a debug line per retry shows the retries happen
    },
    readyUrl: `http://127.0.0.1:${healthPort}/readyz`,
  });
  processes.push(proc);
  return proc;
}

afterAll(async () => {
  await Promise.all(processes.map((p) => p.kill()));
});

describe('wal_level is not logical', () => {
  let backends: Backends;

  beforeAll(async () => {
    backends = await startBackends({ pgSettings: { wal_level: 'replica' } });
  });
  afterAll(async () => {
    await backends?.stop();
  });

  it('reports WalLevelNotLogical with the fix, is not ready, and keeps running', async () => {
    const healthPort = await freePort();
    const ingester = await startIngester(backends, healthPort);
    const warn = await ingester.waitForLog((l) => l['code'] === 'WalLevelNotLogical');
    expect(warn['level']).toBe('warn');
    const message = (warn['err'] as { message?: string } | undefined)?.message ?? '';
    expect(message).toMatch(/set wal_level = logical/);
    expect(message).toMatch(/restart/i);

    expect(await readyStatus(healthPort)).toBe(503);
    // Several retries (RECONNECT_MAX_DELAY=300ms) later it is still alive, still not ready, and has
    // logged the unchanged failure once, not once per retry.
    await waitFor(() => ingester.logs.filter((l) => l['msg'] === 'retrying').length >= 4, {
      timeoutMs: 10_000,
      message: 'four retries',
    });
    expect(ingester.isRunning()).toBe(true);
    expect(await readyStatus(healthPort)).toBe(503);
    const healthz = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
    expect(healthz.status).toBe(200);
    expect(logsWithCode(ingester.logs, 'WalLevelNotLogical')).toHaveLength(1);
    expect(await slotRow(backends.pg.url)).toBeNull();
    await ingester.stop();
  });
});

describe('publication and slot', () => {
  let backends: Backends;

  beforeAll(async () => {
    backends = await startBackends();
    await sql(backends.pg.url, 'create table public.items (id int primary key, name text)');
  });
  afterAll(async () => {
    await backends?.stop();
  });

  it('waits for a missing publication, then becomes ready by itself and creates the slot', async () => {
    const healthPort = await freePort();
    const ingester = await startIngester(backends, healthPort);
    const warn = await ingester.waitForLog((l) => l['code'] === 'PublicationMissing');
    expect(warn['level']).toBe('warn');
    expect((warn['err'] as { message?: string }).message).toContain(
      'CREATE PUBLICATION "supabase_realtime" FOR ALL TABLES',
    );
    expect(await readyStatus(healthPort)).toBe(503);

    await sql(backends.pg.url, 'create publication supabase_realtime for all tables');
    await waitFor(async () => (await readyStatus(healthPort)) === 200, {
      timeoutMs: 10_000,
      message: 'readyz 200 after CREATE PUBLICATION',
    });
    expect(ingester.isRunning()).toBe(true);
    await ingester.waitForLog((l) => l['msg'] === 'replication slot created');
    const slot = await slotRow(backends.pg.url);
    expect(slot).toMatchObject({ plugin: 'pgoutput', active: true });

    // I3: a graceful stop leaves the slot in place.
    const exit = await ingester.stop();
    expect(exit.code).toBe(0);
    expect(await slotRow(backends.pg.url)).toMatchObject({ plugin: 'pgoutput', active: false });
  });

  it('reuses the existing slot on restart: changes made while it was down arrive', async () => {
    const before = await slotRow(backends.pg.url);
    expect(before).not.toBeNull();
    await sql(backends.pg.url, `insert into items values (1, 'written while the ingester was down')`);
    const tap = await BusTap.open(backends.redis.url);
    try {
      const healthPort = await freePort();
      const ingester = await startIngester(backends, healthPort);
      await ingester.waitForReady();
      await waitFor(() => tap.ofTable('items').length >= 1, { timeoutMs: 10_000, message: 'row 1' });
      expect(tap.ofTable('items')[0]!.event.record).toEqual({
        id: 1,
        name: 'written while the ingester was down',
      });
      expect(ingester.logs.some((l) => l['msg'] === 'replication slot created')).toBe(false);
      const streaming = await ingester.waitForLog((l) => l['msg'] === 'streaming');
      expect(streaming['slot']).toBe('walcast');
      const slots = await sql(backends.pg.url, 'select slot_name from pg_replication_slots');
      expect(slots).toEqual([{ slot_name: 'walcast' }]);
      await ingester.stop();
    } finally {
      await tap.close();
    }
  });

  it('a second ingester on the same slot waits as a ready standby and takes over when the first dies', async () => {
    const tap = await BusTap.open(backends.redis.url);
    try {
      const firstPort = await freePort();
      const first = await startIngester(backends, firstPort);
      await first.waitForReady();
      const secondPort = await freePort();
      const second = await startIngester(backends, secondPort);
      const standby = await second.waitForLog((l) => l['code'] === 'SlotInUse');
      expect(standby['level']).toBe('info');
      expect(standby['reason']).toMatch(/in use by another process/);
      expect(await readyStatus(secondPort)).toBe(200);
      expect(await readyStatus(firstPort)).toBe(200);
      expect(second.logs.some((l) => l['msg'] === 'streaming')).toBe(false);

      await first.kill();
      await second.waitForLog((l) => l['msg'] === 'streaming', 15_000);
      await sql(backends.pg.url, `insert into items values (2, 'after the takeover')`);
      await waitFor(() => tap.ofTable('items').some((m) => m.event.record?.['id'] === 2), {
        timeoutMs: 10_000,
        message: 'row 2 through the second ingester',
      });
      await second.stop();
    } finally {
      await tap.close();
    }
  });
});

describe('slot invalidated', () => {
  let backends: Backends;

  beforeAll(async () => {
    backends = await startBackends({ pgSettings: { max_slot_wal_keep_size: '1MB' } });
    await sql(
      backends.pg.url,
      'create table public.items (id int primary key, body text)',
      'create publication supabase_realtime for all tables',
      `select pg_create_logical_replication_slot('walcast', 'pgoutput')`,
    );
  });
  afterAll(async () => {
    await backends?.stop();
  });

  it('reports SlotInvalidated with the recovery, and streams again once the slot is dropped', async () => {
    // Nobody reads the slot: three WAL segment switches and a checkpoint remove its WAL.
    for (let i = 0; i < 3; i++) {
      await sql(
        backends.pg.url,
        `insert into items select g, md5(g::text) from generate_series(${i * 1000 + 1}, ${i * 1000 + 1000}) g`,
        'select pg_switch_wal()',
      );
    }
    await sql(backends.pg.url, 'checkpoint');
    expect(await sql(backends.pg.url, 'select wal_status from pg_replication_slots')).toEqual([
      { wal_status: 'lost' },
    ]);

    const healthPort = await freePort();
    const ingester = await startIngester(backends, healthPort);
    const warn = await ingester.waitForLog((l) => l['code'] === 'SlotInvalidated');
    expect((warn['err'] as { message?: string }).message).toContain(
      `SELECT pg_drop_replication_slot('walcast')`,
    );
    expect(await readyStatus(healthPort)).toBe(503);
    expect(ingester.isRunning()).toBe(true);

    // The documented recovery; the retry loop then creates the slot anew by itself.
    await sql(backends.pg.url, `select pg_drop_replication_slot('walcast')`);
    await waitFor(async () => (await readyStatus(healthPort)) === 200, {
      timeoutMs: 10_000,
      message: 'ready after the invalidated slot was dropped',
    });
    expect(await slotRow(backends.pg.url)).toMatchObject({ plugin: 'pgoutput', active: true });
    await ingester.stop();
  });
});
