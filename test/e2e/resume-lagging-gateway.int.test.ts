/**
 * Resuming on a gateway that is behind: a client that received changes from one gateway rejoins,
 * with `since`, a gateway whose own live stream from Redis has not reached that position yet (it
 * was busy: here it was stopped with SIGSTOP while the changes flowed). The changes up to `since`
 * still reach that gateway afterwards, live; the client must not get them a second time, and must
 * get every change after `since`, in order. Real processes: PostgreSQL, Redis, the ingester and two
 * gateways.
 */
import {
  PhoenixTestClient,
  sql,
  startStackWithSchema,
  waitFor,
  type Backends,
  type WalcastStack,
} from '@walcast/test-utils';

let backends: Backends;
let stack: WalcastStack;
const TOPIC = 'realtime:public:lagging';

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table lagging (id int primary key, note text)',
      'create publication supabase_realtime for all tables',
    ],
    { gateways: 2 },
  ));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
});

const ids = (c: PhoenixTestClient): number[] =>
  c.framesFor(TOPIC, 'INSERT').map((f) => (f.payload as { record: { id: number } }).record.id);

it('gets nothing at or before `since` again, then every later change once, in order', async () => {
  const ahead = await PhoenixTestClient.connect(`${stack.endpoint(0)}/websocket`);
  const behind = await PhoenixTestClient.connect(`${stack.endpoint(1)}/websocket`);
  // Keeps gateway 1 subscribed to the table, so the changes flow to it (and wait for it) too.
  const resident = await PhoenixTestClient.connect(`${stack.endpoint(1)}/websocket`);
  try {
    expect((await ahead.join(TOPIC, {})).payload).toMatchObject({ status: 'ok' });
    expect((await resident.join(TOPIC, {})).payload).toMatchObject({ status: 'ok' });
    const lagging = stack.gateways[1]!;
    process.kill(lagging.pid, 'SIGSTOP');
    let stopped = true;
    try {
      // About 6 MB of changes: more than the stopped gateway's socket buffers hold, so most of it
      // waits in Redis and reaches the gateway over many reads once it runs again.
      await sql(
        backends.pg.url,
        `insert into lagging select g, repeat('x', 200) from generate_series(1, 20000) g`,
      );
      await waitFor(() => ids(ahead).length === 20000, {
        timeoutMs: 30_000,
        message: 'gateway 0 delivered all',
      });
      const last = ahead.framesFor(TOPIC, 'INSERT').at(-1)!;
      const since = (last.payload as { position: string }).position;
      // The join waits in the stopped gateway's socket; it is read as soon as the gateway runs.
      const joined = behind.join(TOPIC, { since }, 30_000);
      process.kill(lagging.pid, 'SIGCONT');
      stopped = false;
      expect((await joined).payload).toMatchObject({ status: 'ok' });
    } finally {
      if (stopped) process.kill(lagging.pid, 'SIGCONT');
    }
    await sql(backends.pg.url, 'insert into lagging (id) values (20001), (20002)');
    await waitFor(() => ids(behind).includes(20002), {
      timeoutMs: 30_000,
      message: 'the later changes delivered',
    });
    expect(ids(behind)).toEqual([20001, 20002]);
  } finally {
    await ahead.close();
    await behind.close();
    await resident.close();
  }
});
