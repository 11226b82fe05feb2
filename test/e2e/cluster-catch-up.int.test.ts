/**
 * Catching up from the change history on a Redis Cluster of three shards. On a cluster only the
 * messages of one hash slot are ordered, so a gateway resumes a table it has heard nothing of from
 * the last position announced on that table's slot (the ingester announces one per slot and batch).
 * Here a client listens to a table that was quiet until the gateway's connection to the table's
 * shard was cut, while another table on the same slot, which no client listens to, is written all
 * along: the gateway heard that slot's announcements, catches up from the history, and the client
 * gets every row with no `phx_error`. A table alone on a slot nobody wrote to since the gateway
 * subscribed has no announcement to go by: it resumes from its history's tail, read before the
 * gateway subscribed to it. Real processes: PostgreSQL, a three-master LocalRedisCluster,
 * the ingester and one gateway. Catch-up on one Redis is in catch-up.int.test.ts.
 */
import { Client } from 'pg';
import {
  hashSlot,
  historyKeyFor,
  historyStartKeyForSlot,
  positionChannelForSlot,
  topicForTable,
} from '@walcast/protocol';
import {
  PhoenixTestClient,
  WalcastStack,
  queryRedis,
  sql,
  startBackends,
  waitFor,
  type Backends,
  type PhoenixFrame,
} from '@walcast/test-utils';

let backends: Backends;
let stack: WalcastStack;
/** A table sharing the hash slot of `quiet`'s topic. */
let neighbour: string;
const slot = hashSlot(topicForTable('public', 'quiet'));
const open: Array<{ close(): unknown }> = [];

beforeAll(async () => {
  backends = await startBackends({ redisCluster: { masters: 3 } });
  for (let i = 0; ; i++) {
    if (hashSlot(topicForTable('public', `n${i}`)) === slot) {
      neighbour = `n${i}`;
      break;
    }
  }
  await sql(
    backends.pg.url,
    'create table public.quiet (id int primary key)',
    'create table public.lonely (id int primary key)',
    `create table public.${neighbour} (id int primary key)`,
    'create publication supabase_realtime for all tables',
  );
  stack = await WalcastStack.start(backends, { gateways: 1 });
});

afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
});

const inserts = (c: PhoenixTestClient, table = 'quiet'): PhoenixFrame[] =>
  c.framesFor(`realtime:public:${table}`, 'INSERT');
const idsOf = (c: PhoenixTestClient, table = 'quiet'): number[] =>
  inserts(c, table).map((f) => (f.payload as { record: { id: number } }).record.id);

/** A value of the gateway's /metrics; 0 when not printed yet. */
async function catchUps(result: 'ok' | 'gap'): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${stack.gatewayPorts[0]}/metrics`);
  const series = `walcast_gateway_catch_ups_total{result="${result}"}`;
  const line = (await res.text()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Inserts rows into `table` one transaction at a time until stopped. */
function steadyWriter(table: string): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    const db = new Client({ connectionString: backends.pg.url });
    await db.connect();
    try {
      for (let id = 1; !stopped; id++) {
        await db.query(`insert into public.${table} (id) values ($1)`, [id]);
        await new Promise((resolve) => setTimeout(resolve, 5)); // the pace of the load, not a wait
      }
    } finally {
      await db.end();
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

it("a gateway's connection to a shard cut while a table it had heard nothing of is written: every row, no phx_error", async () => {
  const master = await backends.redisCluster!.masterOf(slot);
  const c = await PhoenixTestClient.connect(`${stack.endpoint(0)}/websocket`, { vsn: '1.0.0' });
  open.push(c);
  expect((await c.join('realtime:public:quiet', {}, 10_000)).payload).toMatchObject({ status: 'ok' });

  // The neighbour's batches are announced on the slot's position channel, which the gateway follows.
  const ask = (...args: string[]) => queryRedis({ host: master.host, port: master.port, args });
  await waitFor(
    async () => ((await ask('PUBSUB', 'SHARDNUMSUB', positionChannelForSlot(slot))) as unknown[])[1] === 1,
    { timeoutMs: 30_000, message: "the gateway subscribed to the slot's position channel" },
  );
  const writer = steadyWriter(neighbour);
  const before = { ok: await catchUps('ok'), gap: await catchUps('gap') };
  const rows = 100;
  try {
    // Well after the first announcements reached the gateway (each batch of one row is announced).
    const stream = historyKeyFor(topicForTable('public', neighbour));
    await waitFor(async () => Number(await ask('XLEN', stream)) >= 20, {
      timeoutMs: 30_000,
      message: 'rows of the neighbour published',
    });
    const killed = await ask('CLIENT', 'KILL', 'TYPE', 'pubsub');
    expect(Number(killed)).toBeGreaterThan(0);
    // Written at once, partly while the gateway subscribes again.
    const db = new Client({ connectionString: backends.pg.url });
    await db.connect();
    try {
      for (let id = 1; id <= rows; id++) await db.query('insert into public.quiet (id) values ($1)', [id]);
    } finally {
      await db.end();
    }
    await waitFor(() => inserts(c).length >= rows, {
      timeoutMs: 30_000,
      message: `${rows} rows of quiet received (have ${inserts(c).length})`,
    });
  } finally {
    await writer.stop();
  }
  expect(idsOf(c)).toEqual(Array.from({ length: rows }, (_, i) => i + 1));
  await c.heartbeat();
  expect(c.framesFor('realtime:public:quiet', 'phx_error')).toEqual([]);
  await waitFor(async () => (await catchUps('ok')) > before.ok, {
    timeoutMs: 30_000,
    message: 'the gateway caught up from the history',
  });
  expect(await catchUps('gap')).toBe(before.gap);
});

it('a table alone on a slot nobody wrote to since the gateway subscribed: every row after a cut, no phx_error', async () => {
  const lonely = hashSlot(topicForTable('public', 'lonely'));
  expect(lonely).not.toBe(slot);
  const master = await backends.redisCluster!.masterOf(lonely);
  const ask = (...args: string[]) => queryRedis({ host: master.host, port: master.port, args });
  // The history has started (the ingester then marks where it starts on every slot).
  await sql(backends.pg.url, `insert into public.${neighbour} (id) values (-1)`);
  await waitFor(async () => (await ask('GET', historyStartKeyForSlot(lonely))) !== null, {
    timeoutMs: 30_000,
    message: "the history's start on the slot of lonely",
  });
  const c = await PhoenixTestClient.connect(`${stack.endpoint(0)}/websocket`, { vsn: '1.0.0' });
  open.push(c);
  expect((await c.join('realtime:public:lonely', {}, 10_000)).payload).toMatchObject({ status: 'ok' });
  const before = { ok: await catchUps('ok'), gap: await catchUps('gap') };
  expect(Number(await ask('CLIENT', 'KILL', 'TYPE', 'pubsub'))).toBeGreaterThan(0);
  const rows = 100;
  const db = new Client({ connectionString: backends.pg.url });
  await db.connect();
  try {
    for (let id = 1; id <= rows; id++) await db.query('insert into public.lonely (id) values ($1)', [id]);
  } finally {
    await db.end();
  }
  await waitFor(() => inserts(c, 'lonely').length >= rows, {
    timeoutMs: 30_000,
    message: `${rows} rows of lonely received (have ${inserts(c, 'lonely').length})`,
  });
  expect(idsOf(c, 'lonely')).toEqual(Array.from({ length: rows }, (_, i) => i + 1));
  await c.heartbeat();
  expect(c.framesFor('realtime:public:lonely', 'phx_error')).toEqual([]);
  await waitFor(async () => (await catchUps('ok')) > before.ok, {
    timeoutMs: 30_000,
    message: 'the gateway caught up from the history',
  });
  expect(await catchUps('gap')).toBe(before.gap);
});
