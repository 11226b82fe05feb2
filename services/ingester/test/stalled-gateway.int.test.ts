// One stalled gateway must not slow the others, and its own clients must get what it missed.
// Gateway 1 is stopped (SIGSTOP: its event loop no longer runs, it no longer reads Redis) while a
// large transaction streams: the ingester waits for it SUBSCRIBER_BACKLOG_LONE_WAIT only, a client
// of gateway 0 receives every row, the ingester closes gateway 1's subscription once it is
// SUBSCRIBER_BACKLOG_CLOSE behind, and once gateway 1 runs again it catches up from the change
// history (which holds the whole transaction here): its client gets every row, in order, with no
// phx_error. (Past the history, it would end the channel with phx_error: catch-up.int.test.ts.)
import {
  PhoenixTestClient,
  sql,
  startStackWithSchema,
  waitFor,
  type Backends,
  type WalcastStack,
} from '@walcast/test-utils';

jest.setTimeout(120_000);

const CHANNEL = 'realtime:public:items';
const ROWS = 10_000;

let backends: Backends;
let stack: WalcastStack;
const clients: PhoenixTestClient[] = [];

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table public.items (id int primary key, body text)',
      'create publication supabase_realtime for table public.items',
    ],
    {
      gateways: 2,
      ingesterEnv: {
        SUBSCRIBER_BACKLOG_PAUSE: '1MiB',
        SUBSCRIBER_BACKLOG_LONE_WAIT: '300ms',
        // Waiting for the stalled gateway this long would time the test out.
        SUBSCRIBER_BACKLOG_MAX_WAIT: '60s',
        SUBSCRIBER_BACKLOG_CLOSE: '4MiB',
        SUBSCRIBER_CHECK_INTERVAL: '20ms',
        HISTORY_MAX_LEN: String(ROWS * 2),
      },
    },
  ));
});

afterAll(async () => {
  for (const client of clients) await client.terminate().catch(() => undefined);
  await stack?.stop();
  await backends?.stop();
});

async function joined(gateway: number): Promise<PhoenixTestClient> {
  const client = await PhoenixTestClient.connect(stack.endpoint(gateway, '/socket/websocket'));
  clients.push(client);
  expect((await client.join(CHANNEL)).payload.status).toBe('ok');
  return client;
}

const inserts = (client: PhoenixTestClient): number => client.framesFor(CHANNEL, 'INSERT').length;

it('a client of a healthy gateway gets every row at once; the stalled gateway is closed, then catches up for its client', async () => {
  const healthy = await joined(0);
  const stalledClient = await joined(1);
  const stalled = stack.gateways[1]!;
  process.kill(stalled.pid, 'SIGSTOP');
  try {
    // ~2 KB a row, ~25 MB in all: far more than the stopped gateway's socket buffers take.
    await sql(
      backends.pg.url,
      `insert into items select i, repeat('y', 2000) from generate_series(1, ${ROWS}) i`,
    );
    await waitFor(() => inserts(healthy) >= ROWS, {
      timeoutMs: 30_000,
      message: `the healthy gateway's client to receive ${ROWS} rows`,
    });
    expect(inserts(healthy)).toBe(ROWS);
    const closing = await stack.ingester!.waitForLog(
      (l) => String(l['msg']).startsWith('closing a Redis subscriber'),
      10_000,
    );
    expect(closing).toMatchObject({ level: 'warn', code: 'SlowSubscriber' });
    expect(String(closing['subscriber'])).toMatch(/^walcast-gateway:/);
  } finally {
    process.kill(stalled.pid, 'SIGCONT');
  }
  // Resumed, the gateway finds its Redis connection closed, reconnects and catches up.
  await waitFor(() => inserts(stalledClient) >= ROWS, {
    timeoutMs: 30_000,
    message: `the stalled gateway's client to receive ${ROWS} rows after it resumed`,
  });
  const ids = stalledClient
    .framesFor(CHANNEL, 'INSERT')
    .map((f) => (f.payload as { record: { id: number } }).record.id);
  expect(ids).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
  expect(stalledClient.framesFor(CHANNEL, 'phx_error')).toEqual([]);
});
