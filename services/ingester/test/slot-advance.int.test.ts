// The slot must not pin WAL while nothing published happens: when only unpublished tables change,
// pgoutput sends no transactions, and the ingester confirms the keepalive positions instead.
import { type WalcastStack, sql, waitFor, type Backends, startStackWithSchema } from '@walcast/test-utils';

import { BusTap, confirmedLsn, currentWalLsn } from './support';

// jest.config.js sets testTimeout per project, which jest 30 ignores (the default 5 s applies).
jest.setTimeout(30_000);

let backends: Backends;
let stack: WalcastStack;

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table public.a (id int primary key)',
      'create table public.b (id int primary key, body text)',
      'create publication supabase_realtime for table public.a',
    ],
    { gateways: 0, ingesterEnv: { STATUS_INTERVAL: '1s' } },
  ));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
});

describe('slot position without published changes', () => {
  it('advances past 1000 transactions on an unpublished table', async () => {
    const tap = await BusTap.open(backends.redis.url);
    try {
      const before = await confirmedLsn(backends.pg.url);
      await sql(
        backends.pg.url,
        `do $$ begin
           for i in 1..1000 loop insert into b values (i, md5(i::text)); commit; end loop;
         end $$`,
      );
      const afterWrites = await currentWalLsn(backends.pg.url);
      expect(before).toBeLessThan(afterWrites);
      await waitFor(async () => (await confirmedLsn(backends.pg.url)) >= afterWrites, {
        timeoutMs: 15_000,
        intervalMs: 200,
        message: 'confirmed_flush_lsn reaches the LSN after the unpublished writes',
      });
      expect(tap.count).toBe(0);

      // And the published table still streams afterwards, from the advanced position.
      await sql(backends.pg.url, 'insert into a values (1)');
      await waitFor(() => tap.ofTable('a').length === 1, { timeoutMs: 10_000, message: 'row of a' });
      expect(tap.ofTable('b')).toEqual([]);
    } finally {
      await tap.close();
    }
  });

  it('advances while fully idle after a published change', async () => {
    await sql(backends.pg.url, 'insert into a values (2)');
    const afterInsert = await currentWalLsn(backends.pg.url);
    await waitFor(async () => (await confirmedLsn(backends.pg.url)) >= afterInsert, {
      timeoutMs: 15_000,
      intervalMs: 200,
      message: 'confirmed_flush_lsn reaches the LSN after the published insert',
    });
  });
});
