// I1 and I2 with Redis really down: nothing that Redis has not accepted is confirmed to PostgreSQL,
// status updates keep flowing, and once Redis is back the queued changes are published (at least
// once) and the slot catches up.
import { type WalcastStack, sql, waitFor, type Backends, startStackWithSchema } from '@walcast/test-utils';

import { lsnFromText } from '../src/replication/lsn';

import { BusTap, confirmedLsn, currentWalLsn, historyRowIds, readyStatus, sleep } from './support';

// jest.config.js sets testTimeout per project, which jest 30 ignores (the default 5 s applies).
jest.setTimeout(30_000);

let backends: Backends;
let stack: WalcastStack;

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table public.orders (id int primary key, note text)',
      'create publication supabase_realtime for all tables',
    ],
    { gateways: 0, ingesterEnv: { STATUS_INTERVAL: '500ms' } },
  ));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
}, 30_000);

async function replyTime(): Promise<bigint> {
  const rows = await sql(
    backends.pg.url,
    `select (extract(epoch from reply_time) * 1000000)::int8::text as us
     from pg_stat_replication where application_name = 'walcast-ingester'`,
  );
  const value = rows[0]?.['us'];
  return typeof value === 'string' ? BigInt(value) : 0n;
}

/** What the walsender has sent to the ingester (pg_stat_replication.sent_lsn). */
async function sentLsn(): Promise<bigint> {
  const rows = await sql(
    backends.pg.url,
    `select sent_lsn::text as lsn from pg_stat_replication where application_name = 'walcast-ingester'`,
  );
  const sent = rows[0]?.['lsn'];
  return typeof sent === 'string' ? lsnFromText(sent) : 0n;
}

/** Waits for the ingester's next standby status update (pg_stat_replication.reply_time moves). */
async function nextStatusUpdate(message: string): Promise<void> {
  const before = await replyTime();
  await waitFor(async () => (await replyTime()) > before, { timeoutMs: 5_000, message });
}

describe('Redis outage', () => {
  it('confirms nothing Redis has not accepted, then delivers every row and catches up', async () => {
    // Streaming and caught up before the outage.
    const warm = await BusTap.open(backends.redis.url);
    await sql(backends.pg.url, `insert into orders values (0, 'before')`);
    await waitFor(() => warm.ofTable('orders').length === 1, { message: 'warm-up row' });
    await warm.close();

    await backends.redis.stop();
    await sql(
      backends.pg.url,
      `do $$ begin for i in 1..100 loop insert into orders values (i, 'during'); commit; end loop; end $$`,
    );
    const afterInserts = await currentWalLsn(backends.pg.url);

    await waitFor(async () => (await readyStatus(stack.healthPort)) === 503, {
      timeoutMs: 10_000,
      message: 'the ingester reports itself not ready while Redis is down',
    });
    await waitFor(async () => (await sentLsn()) >= afterInserts, {
      timeoutMs: 10_000,
      message: 'the walsender sent the 100 commits to the ingester',
    });
    // I2: standby status updates go on while publishing is blocked (STATUS_INTERVAL=500ms); two of
    // them, so that at least one was sent after the ingester had read the 100 commits.
    // pg-logical-replication 2.5.0 writes the reply timestamp wrongly (7 days ahead, and the low
    // 32 bits in ms instead of µs, so it advances 1 µs per ms), so only "it moved" is checked.
    await nextStatusUpdate('a status update while Redis is down');
    await nextStatusUpdate('a second status update while Redis is down');
    const confirmed = await confirmedLsn(backends.pg.url);
    expect(confirmed).toBeLessThan(afterInserts); // I1: the 100 commits were not confirmed
    expect(stack.ingester!.isRunning()).toBe(true);

    await backends.redis.start();
    const tap = await BusTap.open(backends.redis.url);
    try {
      // Published once Redis is back: seen by the tap, or, when the ingester republished before
      // the tap had subscribed (pub/sub keeps nothing), in the table's history, written with it.
      const ids = await waitFor(
        async () => {
          const seen = new Set(tap.ofTable('orders').map((m) => m.event.record?.['id']));
          for (const id of await historyRowIds(backends.redis.url, 'public', 'orders')) seen.add(id);
          return seen.size >= 100 ? seen : null;
        },
        { timeoutMs: 15_000, message: 'all 100 rows after Redis came back' },
      );
      for (let i = 1; i <= 100; i++) expect(ids.has(i)).toBe(true);
      await waitFor(async () => (await confirmedLsn(backends.pg.url)) >= afterInserts, {
        timeoutMs: 15_000,
        message: 'confirmed_flush_lsn catches up to the post-insert LSN',
      });
      await waitFor(async () => (await readyStatus(stack.healthPort)) === 200, {
        timeoutMs: 10_000,
        message: 'ready again',
      });
      expect(tap.malformed).toEqual([]);
    } finally {
      await tap.close();
    }
  });

  // The bus closes within a bounded time even when QUIT is queued behind PUBLISHes that cannot finish.
  it('exits with code 0 on SIGTERM while Redis is down with changes in flight', async () => {
    await backends.redis.stop();
    await sql(backends.pg.url, `insert into orders select generate_series(1001, 1010), 'in flight'`);
    const afterInserts = await currentWalLsn(backends.pg.url);
    // The ingester has read those changes (they are in flight, unconfirmed).
    await waitFor(async () => (await sentLsn()) >= afterInserts, {
      timeoutMs: 10_000,
      message: 'the walsender sent the in-flight changes',
    });
    const ingester = stack.ingester!;
    const started = Date.now();
    void ingester.kill('SIGTERM'); // resolves on exit, which is what is raced below
    const exit = await Promise.race([ingester.exited, sleep(9000).then(() => null)]);
    if (exit === null) await ingester.kill('SIGKILL');
    await backends.redis.start();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(9000);
  });
});
