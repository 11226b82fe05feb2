// Resuming without loss: the ingester killed mid-burst restarts from the slot's confirmed position,
// and PostgreSQL restarts or crashes are survived by the ingester's own reconnect loop. Duplicates
// are allowed (at least once), loss is not.
import { Client } from 'pg';

import { type WalcastStack, sql, waitFor, type Backends, startStackWithSchema } from '@walcast/test-utils';

import { BusTap, readyStatus } from './support';

// jest.config.js sets testTimeout per project, which jest 30 ignores (the default 5 s applies).
jest.setTimeout(30_000);

let backends: Backends;
let stack: WalcastStack;
let tap: BusTap;
const seen = new Map<string, Set<number>>();

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table public.burst (id int primary key)',
      'create table public.after (id int primary key, phase text)',
      'create publication supabase_realtime for all tables',
    ],
    { gateways: 0 },
  ));
  // One subscriber for the whole file; it stays connected through every restart.
  tap = await BusTap.open(backends.redis.url, {
    keep: false,
    onMessage: (m) => {
      const table = String(m.event['table']);
      const id = m.event.record?.['id'];
      if (typeof id !== 'number') return;
      if (!seen.has(table)) seen.set(table, new Set());
      seen.get(table)!.add(id);
    },
  });
});

afterAll(async () => {
  await tap?.close();
  await stack?.stop();
  await backends?.stop();
});

function idsOf(table: string): Set<number> {
  return seen.get(table) ?? new Set();
}

async function waitForIds(table: string, ids: number[], timeoutMs = 20_000): Promise<void> {
  await waitFor(() => ids.every((id) => idsOf(table).has(id)), {
    timeoutMs,
    intervalMs: 50,
    message: `ids ${ids[0]}..${ids[ids.length - 1]} of ${table} (have ${idsOf(table).size})`,
  });
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('restarts', () => {
  it('loses nothing when the ingester is SIGKILLed in the middle of 5,000 single-row inserts', async () => {
    const TOTAL = 5000;
    const client = new Client({ connectionString: backends.pg.url });
    await client.connect();
    let inserted = 0;
    const writer = (async () => {
      for (let id = 1; id <= TOTAL; id++) {
        await client.query('insert into burst values ($1)', [id]);
        inserted = id;
        // Paced (about 2 s in all) so that the burst spans the kill and the restart.
        if (id % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    try {
      await waitFor(() => idsOf('burst').size >= 500, { timeoutMs: 15_000, message: 'burst under way' });
      const first = stack.ingester!;
      const exit = await first.kill();
      expect(exit.signal).toBe('SIGKILL');
      const insertedAtKill = inserted;
      expect(insertedAtKill).toBeLessThan(TOTAL); // really in the middle
      await stack.startIngester();
      await writer;
      await waitForIds('burst', range(1, TOTAL));
      expect(idsOf('burst').size).toBe(TOTAL);
      expect(tap.malformed).toEqual([]);
    } finally {
      await writer.catch(() => undefined);
      await client.end();
    }
  });

  it('reconnects by itself after PostgreSQL restarts and after it crashes', async () => {
    const ingester = stack.ingester!;
    await sql(backends.pg.url, `insert into after values (1, 'before')`);
    await waitForIds('after', [1]);

    // A fast shutdown and start.
    const warnsBefore = ingester.logs.filter((l) => l['level'] === 'warn').length;
    await backends.pg.restart('fast');
    await waitFor(() => ingester.logs.filter((l) => l['level'] === 'warn').length > warnsBefore, {
      timeoutMs: 10_000,
      message: 'a warn log about the lost connection',
    });
    const restartWarn = ingester.logs.filter((l) => l['level'] === 'warn')[warnsBefore]!;
    expect(['ReplicationFailed', 'DatabaseUnavailable']).toContain(restartWarn['code']);
    await waitFor(async () => (await readyStatus(stack.healthPort)) === 200, {
      timeoutMs: 15_000,
      message: 'ready again after restart',
    });
    await sql(backends.pg.url, `insert into after values (2, 'after restart')`);
    await waitForIds('after', [2]);

    // A crash (SIGKILL of the postmaster) and crash recovery.
    const warnsBeforeCrash = ingester.logs.filter((l) => l['level'] === 'warn').length;
    await backends.pg.kill();
    await waitFor(() => ingester.logs.filter((l) => l['level'] === 'warn').length > warnsBeforeCrash, {
      timeoutMs: 10_000,
      message: 'a warn log about the crash',
    });
    expect(await readyStatus(stack.healthPort)).toBe(503);
    await backends.pg.start();
    await waitFor(async () => (await readyStatus(stack.healthPort)) === 200, {
      timeoutMs: 15_000,
      message: 'ready again after crash recovery',
    });
    await sql(backends.pg.url, `insert into after values (3, 'after crash')`);
    await waitForIds('after', [3]);
    expect(ingester.isRunning()).toBe(true);
    expect(ingester.logs.some((l) => l['msg'] === 'recovered')).toBe(true);
  });
});
