// Messages sent from the database are delivered at least once across an ingester crash (they
// travel through the permanent slot, confirmed only after Redis accepted them), and retention
// deletes old rows of realtime.messages in batches.
import { Client } from 'pg';

import { type WalcastStack, sql, waitFor, type Backends, startStackWithSchema } from '@walcast/test-utils';

import { BroadcastTap, metricValue } from './support';

jest.setTimeout(60_000);

let backends: Backends;
let stack: WalcastStack;
let tap: BroadcastTap;

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table public.items (id int primary key)',
      'create publication supabase_realtime for table public.items',
    ],
    { gateways: 0, ingesterEnv: { MESSAGE_RETENTION: '1h', MESSAGE_RETENTION_INTERVAL: '200ms' } },
  ));
  tap = await BroadcastTap.open(backends.redis.url);
});

afterAll(async () => {
  await tap?.close();
  await stack?.stop();
  await backends?.stop();
});

function received(subtopic: string): Set<number> {
  return new Set(tap.payloads(subtopic).map((p) => Number(p['n'])));
}

describe('at least once', () => {
  it('delivers every message sent while the ingester is SIGKILLed and restarted', async () => {
    const TOTAL = 2000;
    const client = new Client({ connectionString: backends.pg.url });
    await client.connect();
    let sent = 0;
    const writer = (async () => {
      for (let n = 1; n <= TOTAL; n++) {
        await client.query(`select realtime.send(jsonb_build_object('n', $1::int), 'e', 'crash', true)`, [n]);
        sent = n;
        if (n % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    try {
      await waitFor(() => received('crash').size >= 200, { timeoutMs: 15_000, message: 'sending under way' });
      const exit = await stack.ingester!.kill();
      expect(exit.signal).toBe('SIGKILL');
      expect(sent).toBeLessThan(TOTAL);
      await stack.startIngester();
      await writer;
      await waitFor(() => received('crash').size === TOTAL, {
        timeoutMs: 20_000,
        intervalMs: 50,
        message: `all ${TOTAL} messages (have ${received('crash').size})`,
      });
      expect(tap.malformed).toEqual([]);
    } finally {
      await writer.catch(() => undefined);
      await client.end();
    }
  });
});

describe('retention', () => {
  it('deletes rows older than MESSAGE_RETENTION in batches and keeps the others', async () => {
    const before = (await metricValue(stack.healthPort, 'walcast_ingester_messages_deleted_total')) ?? 0;
    await sql(
      backends.pg.url,
      // 2,500 rows two hours old (more than one batch of 1,000), inserted directly: they are
      // broadcast too, which does not matter here.
      `insert into realtime.messages (topic, extension, payload, event, inserted_at)
         select 'old', 'broadcast', '{}', 'e', timezone('utc', now()) - interval '2 hours' from generate_series(1, 2500)`,
      `select realtime.send('{"n":1}', 'e', 'fresh', true)`,
    );
    await waitFor(
      async () =>
        (
          await sql(backends.pg.url, `select count(*)::int as n from realtime.messages where topic = 'old'`)
        )[0]!['n'] === 0,
      {
        timeoutMs: 15_000,
        message: 'the old rows deleted',
      },
    );
    expect(
      await sql(backends.pg.url, `select count(*)::int as n from realtime.messages where topic = 'fresh'`),
    ).toEqual([{ n: 1 }]);
    await waitFor(
      async () =>
        (await metricValue(stack.healthPort, 'walcast_ingester_messages_deleted_total')) === before + 2500,
      { timeoutMs: 5000, message: '2,500 deletions counted' },
    );
  });
});
