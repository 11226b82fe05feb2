// Redis subscriptions follow the clients (reference counting in BusSubscriptions): a table topic is
// subscribed once however many channels need it, kept while any does, and dropped when the last
// one leaves or disconnects; `realtime:*` and schema topics use patterns the same way. Checked on
// the real Redis with PUBSUB NUMSUB / NUMPAT.
import { topicForTable } from '@walcast/protocol';
import { type PhoenixTestClient, type WalcastStack, sql, waitFor, type Backends } from '@walcast/test-utils';

import {
  ClientPool,
  insertUser,
  isChangeFor,
  numpat,
  numsub,
  redisClient,
  type RedisClient,
  startUsersStack,
} from './support';

jest.setTimeout(60_000);

const USERS = 'realtime:public:users';
const USERS_BUS = topicForTable('public', 'users');

let backends: Backends;
let stack: WalcastStack;
let redis: RedisClient;
const pool = new ClientPool(() => stack);

beforeAll(async () => {
  ({ backends, stack } = await startUsersStack({ gateways: 1 }));
  redis = redisClient(backends.redis.url);
});

afterEach(async () => {
  await pool.closeAll();
  // Every test starts from a gateway that holds no subscription.
  await waitFor(async () => (await numsub(redis, USERS_BUS)) === 0 && (await numpat(redis)) === 0, {
    timeoutMs: 5000,
    message: 'the gateway to drop every subscription',
  });
});

afterAll(async () => {
  await pool.closeAll();
  await redis?.quit().catch(() => undefined);
  redis?.disconnect();
  await stack?.stop();
  await backends?.stop();
}, 30_000);

function subscribers(): Promise<number> {
  return numsub(redis, USERS_BUS);
}

let markers = 0;

/**
 * Joins, on `client`, a topic nobody else uses: the reply comes once Redis confirmed its SUBSCRIBE,
 * and Redis applies one connection's commands in order, so every SUBSCRIBE or UNSUBSCRIBE the
 * gateway sent before has taken effect by then. The positive marker for "it stays subscribed".
 */
async function gatewaySubscriptionsSettled(client: PhoenixTestClient): Promise<void> {
  expect((await client.join(`realtime:public:marker_${markers++}`)).payload.status).toBe('ok');
}

/** How many SUBSCRIBE commands Redis has run (INFO commandstats). */
async function subscribeCalls(): Promise<number> {
  const info = String(await redis.call('INFO', 'commandstats'));
  return Number(/^cmdstat_subscribe:calls=(\d+)/m.exec(info)?.[1] ?? 0);
}

async function until(fn: () => Promise<number>, value: number, what: string): Promise<void> {
  await waitFor(async () => (await fn()) === value, { timeoutMs: 5000, message: `${what} to be ${value}` });
}

describe('table topics', () => {
  it('one SUBSCRIBE for several channels of a table; kept while any is joined; dropped after the last leave', async () => {
    expect(await subscribers()).toBe(0);
    const a = await pool.open({ vsn: '1.0.0' });
    const b = await pool.open({ vsn: '2.0.0' });
    const c = await pool.open({ vsn: '1.0.0' });
    expect((await a.join(USERS)).payload.status).toBe('ok');
    expect((await b.join(USERS)).payload.status).toBe('ok');
    expect((await c.join(`${USERS}:id=eq.1`)).payload.status).toBe('ok');
    expect(await subscribers()).toBe(1);

    await a.leave(USERS);
    await gatewaySubscriptionsSettled(b);
    expect(await subscribers()).toBe(1);
    const id = await insertUser(backends.pg.url);
    await b.next(isChangeFor(USERS, 'INSERT', id));

    await b.leave(USERS);
    await gatewaySubscriptionsSettled(c);
    expect(await subscribers()).toBe(1); // c's filter channel still needs the table
    await sql(backends.pg.url, `insert into public.users values (1, 'one')`);
    await c.next(isChangeFor(`${USERS}:id=eq.1`, 'INSERT', 1));

    await c.leave(`${USERS}:id=eq.1`);
    await until(subscribers, 0, 'NUMSUB after the last leave');
    expect(a.isOpen && b.isOpen && c.isOpen).toBe(true);
  });

  it('dropped when the last subscribed sockets disconnect without leaving', async () => {
    const a = await pool.open();
    const b = await pool.open({ vsn: '2.0.0' });
    expect((await a.join(USERS)).payload.status).toBe('ok');
    expect((await b.join(`${USERS}:name=eq.x`)).payload.status).toBe('ok');
    expect(await subscribers()).toBe(1);
    await a.close();
    await gatewaySubscriptionsSettled(b);
    expect(await subscribers()).toBe(1);
    await b.terminate(); // no close frame: the TCP connection just goes away
    await until(subscribers, 0, 'NUMSUB after both sockets went away');
  });

  it('a duplicate join neither leaks nor double-releases the subscription', async () => {
    const a = await pool.open();
    const b = await pool.open();
    expect((await a.join(USERS)).payload.status).toBe('ok');
    expect((await a.join(USERS)).payload.status).toBe('ok');
    expect((await a.join(USERS)).payload.status).toBe('ok');
    expect((await b.join(USERS)).payload.status).toBe('ok');
    await a.leave(USERS);
    await gatewaySubscriptionsSettled(a);
    expect(await subscribers()).toBe(1);
    const id = await insertUser(backends.pg.url);
    await b.next(isChangeFor(USERS, 'INSERT', id));
    await b.leave(USERS);
    await until(subscribers, 0, 'NUMSUB after both left');
  });

  it('join/leave churn ends with no subscription, and a later join is live', async () => {
    const a = await pool.open({ vsn: '2.0.0' });
    for (let i = 0; i < 20; i++) {
      expect((await a.join(USERS)).payload.status).toBe('ok');
      await a.leave(USERS);
    }
    await until(subscribers, 0, 'NUMSUB after the churn');
    expect((await a.join(USERS)).payload.status).toBe('ok');
    expect(await subscribers()).toBe(1);
    const id = await insertUser(backends.pg.url);
    await a.next(isChangeFor(USERS, 'INSERT', id));
  });

  it('a socket that disconnects while its join is pending leaves no subscription behind', async () => {
    for (let i = 0; i < 10; i++) {
      const a = await pool.open();
      const before = await subscribeCalls();
      a.send({ topic: USERS, event: 'phx_join', payload: {} });
      // The join reached the gateway: it has asked Redis for the table's subscription.
      await waitFor(async () => (await subscribeCalls()) > before, {
        message: 'the join reached the gateway',
      });
      await a.terminate();
      await until(subscribers, 0, 'NUMSUB after the socket vanished mid-join');
    }
  });

  it('a refused join (bad filter) subscribes to nothing', async () => {
    const a = await pool.open();
    expect((await a.join(`${USERS}:id=like2.x`)).payload.status).toBe('error');
    expect(await subscribers()).toBe(0);
  });
});

describe('pattern topics', () => {
  it('realtime:* uses one PSUBSCRIBE: NUMPAT 0 → 1 → 0', async () => {
    expect(await numpat(redis)).toBe(0);
    const a = await pool.open();
    const b = await pool.open({ vsn: '2.0.0' });
    expect((await a.join('realtime:*')).payload.status).toBe('ok');
    expect((await b.join('realtime:*')).payload.status).toBe('ok');
    expect(await numpat(redis)).toBe(1);
    expect(await subscribers()).toBe(0); // no per-table SUBSCRIBE for it
    await a.leave('realtime:*');
    await gatewaySubscriptionsSettled(b);
    expect(await numpat(redis)).toBe(1);
    const id = await insertUser(backends.pg.url);
    await b.next(isChangeFor('realtime:*', 'INSERT', id));
    await b.terminate();
    await until(() => numpat(redis), 0, 'NUMPAT after the last realtime:* socket went away');
  });

  it('a schema topic adds its own pattern next to realtime:*', async () => {
    const a = await pool.open();
    expect((await a.join('realtime:*')).payload.status).toBe('ok');
    expect((await a.join('realtime:public')).payload.status).toBe('ok');
    expect(await numpat(redis)).toBe(2);
    const id = await insertUser(backends.pg.url);
    await a.next(isChangeFor('realtime:public', 'INSERT', id));
    await a.next(isChangeFor('realtime:*', 'INSERT', id));
    await a.leave('realtime:public');
    await until(() => numpat(redis), 1, 'NUMPAT after leaving the schema topic');
    await a.close();
    await until(() => numpat(redis), 0, 'NUMPAT after the socket closed');
  });
});
