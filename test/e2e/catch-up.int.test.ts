/**
 * Catching up from the change history: a gateway that loses Redis holds its subscriptions, reads
 * what they missed from the history the ingester keeps in Redis, and its clients get every change,
 * once, in order, with no `phx_error`. Only when the history cannot cover the loss (a Redis that
 * restarted empty) are channels ended with `phx_error`, and a rejoin with `since` is then told
 * `HistoryGap`. Real processes: PostgreSQL, Redis, the ingester and the gateways; gateway 0 reaches
 * Redis through a TcpProxy, so that it alone can be cut off (a real network fault).
 */
import { Client } from 'pg';
import {
  PhoenixTestClient,
  TcpProxy,
  WalcastStack,
  sql,
  startBackends,
  waitFor,
  type Backends,
  type PhoenixFrame,
} from '@walcast/test-utils';

const open: PhoenixTestClient[] = [];

afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

async function client(stack: WalcastStack, gateway: number): Promise<PhoenixTestClient> {
  const c = await PhoenixTestClient.connect(`${stack.endpoint(gateway)}/websocket`, { vsn: '1.0.0' });
  open.push(c);
  return c;
}

/** Joins the legacy topic of `table`; resolves once the join is answered `ok` (the subscription is live). */
async function joinTable(c: PhoenixTestClient, table: string, payload: Record<string, unknown> = {}) {
  const reply = await c.join(`realtime:public:${table}`, payload, 10_000);
  expect(reply.payload).toMatchObject({ status: 'ok' });
}

const inserts = (c: PhoenixTestClient, table: string): PhoenixFrame[] =>
  c.framesFor(`realtime:public:${table}`, 'INSERT');
const idsOf = (c: PhoenixTestClient, table: string): number[] =>
  inserts(c, table).map((f) => (f.payload as { record: { id: number } }).record.id);
const positionOf = (f: PhoenixFrame): string => (f.payload as { position: string }).position;
const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

/** A value of a gateway's /metrics: the series whose line starts with `series`; 0 when not printed yet. */
async function metric(stack: WalcastStack, gateway: number, series: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${stack.gatewayPorts[gateway]}/metrics`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const catchUps = (stack: WalcastStack, gateway: number, result: 'ok' | 'gap'): Promise<number> =>
  metric(stack, gateway, `walcast_gateway_catch_ups_total{result="${result}"}`);

/**
 * A steady write load: one connection inserting 5 rows (ids 1, 2, 3…) into `table` every 10 ms,
 * about 500 rows/s, until stopped. `stop()` resolves with the last id written.
 */
function steadyWriter(url: string, table: string): { written(): number; stop(): Promise<number> } {
  let next = 1;
  let stopped = false;
  const loop = (async () => {
    const db = new Client({ connectionString: url });
    await db.connect();
    try {
      while (!stopped) {
        await db.query(`insert into ${table} (id) select generate_series($1::int, $2::int)`, [
          next,
          next + 4,
        ]);
        next += 5;
        await new Promise((resolve) => setTimeout(resolve, 10)); // the pace of the load, not a wait
      }
    } finally {
      await db.end();
    }
  })();
  return {
    written: () => next - 1,
    stop: async () => {
      stopped = true;
      await loop;
      return next - 1;
    },
  };
}

/** Waits until the writer has written `more` rows past what it had. */
async function writtenMore(writer: { written(): number }, more: number): Promise<void> {
  const target = writer.written() + more;
  await waitFor(() => writer.written() >= target, {
    timeoutMs: 30_000,
    message: `${more} more rows written`,
  });
}

/** Waits until `c` has received `n` inserts of `table`. */
async function received(c: PhoenixTestClient, table: string, n: number): Promise<void> {
  await waitFor(() => inserts(c, table).length >= n, {
    timeoutMs: 30_000,
    message: `${n} inserts of ${table} received (have ${inserts(c, table).length})`,
  });
}

describe('with a Redis that keeps its data (append-only file)', () => {
  let backends: Backends;
  let proxy: TcpProxy;
  let stack: WalcastStack;

  beforeAll(async () => {
    backends = await startBackends({ redisAppendOnly: true });
    await sql(
      backends.pg.url,
      'create table cut (id int primary key)',
      'create table restarted (id int primary key)',
      'create publication supabase_realtime for all tables',
    );
    proxy = await TcpProxy.start({ host: backends.redis.host, port: backends.redis.port });
    stack = await WalcastStack.start(backends, {
      gateways: 2,
      gatewayEnvAt: (g): Record<string, string> =>
        g === 0 ? { REDIS_URL: `redis://${proxy.host}:${proxy.port}` } : {},
    });
  });

  afterAll(async () => {
    await stack?.stop();
    await proxy?.close();
    await backends?.stop();
  });

  it('a gateway cut from Redis for 2 s under a steady write load: no phx_error, every change once, in order', async () => {
    const [cut, other] = [await client(stack, 0), await client(stack, 1)];
    await joinTable(cut, 'cut');
    await joinTable(other, 'cut');
    const before = await catchUps(stack, 0, 'ok');
    const writer = steadyWriter(backends.pg.url, 'cut');
    try {
      await received(cut, 'cut', 50);
      await proxy.cut(2000);
      expect(proxy.severed).toBeGreaterThan(0);
      await writtenMore(writer, 200);
    } finally {
      await writer.stop();
    }
    const last = writer.written();
    await received(cut, 'cut', last);
    await received(other, 'cut', last);
    expect(idsOf(cut, 'cut')).toEqual(upTo(last));
    expect(idsOf(other, 'cut')).toEqual(upTo(last));
    // Marker: a heartbeat answered after every change; the channel was never ended.
    await cut.heartbeat();
    expect(cut.framesFor('realtime:public:cut', 'phx_error')).toEqual([]);
    expect(await catchUps(stack, 0, 'ok')).toBeGreaterThan(before);
  });

  it('Redis restarted: connected clients lose nothing and get no phx_error', async () => {
    const clients = [await client(stack, 0), await client(stack, 1)];
    for (const c of clients) await joinTable(c, 'restarted');
    const before = await Promise.all([0, 1].map((g) => catchUps(stack, g, 'ok')));
    const writer = steadyWriter(backends.pg.url, 'restarted');
    try {
      await received(clients[1]!, 'restarted', 50);
      await backends.redis.stop();
      await writtenMore(writer, 200); // committed while Redis is away
      await backends.redis.start();
      for (const g of [0, 1]) {
        await waitFor(async () => (await catchUps(stack, g, 'ok')) > before[g]!, {
          timeoutMs: 30_000,
          message: `gateway ${g} caught up from the history`,
        });
      }
      await writtenMore(writer, 100);
    } finally {
      await writer.stop();
    }
    const last = writer.written();
    for (const c of clients) {
      await received(c, 'restarted', last);
      expect(idsOf(c, 'restarted')).toEqual(upTo(last));
      await c.heartbeat();
      expect(c.framesFor('realtime:public:restarted', 'phx_error')).toEqual([]);
    }
  });
});

describe('with a Redis that restarts empty', () => {
  let backends: Backends;
  let stack: WalcastStack;

  beforeAll(async () => {
    backends = await startBackends();
    await sql(
      backends.pg.url,
      'create table items (id int primary key)',
      'create publication supabase_realtime for all tables',
    );
    stack = await WalcastStack.start(backends, { gateways: 1 });
  });

  afterAll(async () => {
    await stack?.stop();
    await backends?.stop();
  });

  it('the channel gets phx_error (the gap signal) and, rejoining with since, a HistoryGap; then it is live', async () => {
    const c = await client(stack, 0);
    await joinTable(c, 'items');
    await sql(backends.pg.url, 'insert into items (id) select generate_series(1, 5)');
    await received(c, 'items', 5);
    const since = positionOf(inserts(c, 'items')[4]!);
    const gapsBefore = await catchUps(stack, 0, 'gap');
    await backends.redis.stop();
    await sql(backends.pg.url, 'insert into items (id) select generate_series(6, 10)');
    await backends.redis.start();
    await c.next((f) => f.topic === 'realtime:public:items' && f.event === 'phx_error', 30_000);
    expect(await catchUps(stack, 0, 'gap')).toBeGreaterThan(gapsBefore);

    await joinTable(c, 'items', { since });
    const gap = await c.next(
      (f) => f.event === 'system' && (f.payload as { status?: string }).status === 'error',
      15_000,
    );
    expect(gap.payload).toMatchObject({
      extension: 'postgres_changes',
      status: 'error',
      message: expect.stringMatching(
        /^HistoryGap: changes after [0-9A-F]{16}-[0-9A-F]{8} are no longer all held/,
      ),
    });
    await sql(backends.pg.url, 'insert into items (id) values (11)');
    await waitFor(() => idsOf(c, 'items').includes(11), {
      timeoutMs: 15_000,
      message: 'row 11 delivered live',
    });
  });
});
