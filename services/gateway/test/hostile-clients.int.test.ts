// What an attacker's socket can do to a gateway: each input that once crashed, stalled or bloated
// one is answered to that socket alone (with an error naming the limit it passed), while a watcher
// on the same gateway keeps receiving changes, and what the socket made the gateway hold is
// released when it closes. One gateway with the default limits, one with small limits.
import { readFileSync } from 'node:fs';

import { type Backends, type PhoenixTestClient, type WalcastStack, waitFor } from '@walcast/test-utils';

import {
  ClientPool,
  addGateway,
  httpGet,
  insertUser,
  isChangeFor,
  isErrorReply,
  numpat,
  redisClient,
  startUsersStack,
  stopUsersStack,
  type RedisClient,
} from './support';

jest.setTimeout(90_000);

const USERS = 'realtime:public:users';

let backends: Backends;
let stack: WalcastStack;
let redis: RedisClient;
/** Index of the gateway with small limits. */
let small: number;
/** Index of the gateway that takes frames of up to 5 MB (the original server's limit). */
let big: number;
const pool = new ClientPool(() => stack);

const SMALL = {
  MAX_TOPIC_LENGTH: '64',
  MAX_FILTER_LENGTH: '128',
  MAX_BINDINGS_PER_JOIN: '10',
  MAX_CHANNELS_PER_SOCKET: '5',
  MAX_JOINS_PER_SECOND: '20',
  MAX_BUS_SUBSCRIPTIONS: '12',
};

beforeAll(async () => {
  ({ backends, stack } = await startUsersStack({ gateways: 1 }));
  small = await addGateway(stack, SMALL);
  big = await addGateway(stack, { MAX_FRAME_SIZE: '5000000' });
  redis = redisClient(backends.redis.url);
});

afterEach(() => pool.closeAll());

afterAll(async () => {
  redis?.disconnect();
  await stopUsersStack(pool, stack, backends);
}, 30_000);

async function watcher(gateway = 0): Promise<PhoenixTestClient> {
  const client = await pool.open({ gateway, vsn: '2.0.0' });
  expect((await client.join(USERS)).payload.status).toBe('ok');
  return client;
}

/** The watcher still gets a row committed now, and the gateway still answers HTTP. */
async function expectServing(other: PhoenixTestClient, gateway = 0): Promise<void> {
  const id = await insertUser(backends.pg.url);
  await other.next(isChangeFor(USERS, 'INSERT', id), 10_000);
  expect((await httpGet(stack.gatewayPorts[gateway]!, '/healthz')).status).toBe(200);
}

/** A value of the gateway's /metrics (first series whose line starts with `prefix`). */
async function metric(gateway: number, prefix: string): Promise<number> {
  const { body } = await httpGet(stack.gatewayPorts[gateway]!, '/metrics');
  const line = body.split('\n').find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`no metric ${prefix}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

const refusals = (gateway: number, limit: string): Promise<number> =>
  metric(gateway, `walcast_gateway_limit_refusals_total{limit="${limit}"}`);

function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.replace(/\D+/g, '')) * 1024;
}

describe('inputs that once took a gateway down', () => {
  it('a phx_join whose config nests arrays 5,000 deep is a ProtocolViolation', async () => {
    const other = await watcher();
    const client = await pool.open({ vsn: '2.0.0' });
    const before = await refusals(0, 'frame_depth');
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    client.sendRaw(`["1","1","realtime:x","phx_join",{"config":{"postgres_changes":${deep}}}]`);
    const reply = await client.next(isErrorReply('ProtocolViolation: frame nests'));
    expect(reply.ref).toBeNull();
    expect(await refusals(0, 'frame_depth')).toBe(before + 1);
    expect((await client.heartbeat()).payload.status).toBe('ok');
    await expectServing(other);
  });

  it('a join with 40,000 bindings is refused at once with TooManyBindings and subscribes nothing', async () => {
    const other = await watcher(big);
    const subscriptions = await metric(big, 'walcast_gateway_bus_subscriptions');
    const client = await pool.open({ gateway: big, vsn: '2.0.0' });
    const bindings = Array.from({ length: 40_000 }, (_, i) => ({
      event: '*',
      schema: 'public',
      table: `t${i}`,
      filter: `id=eq.${i}`,
    }));
    const reply = await client.join('realtime:many', { config: { postgres_changes: bindings } }, 10_000);
    expect(reply.payload.status).toBe('error');
    expect(reply.payload.response.reason).toBe(
      'TooManyBindings: at most 100 postgres_changes bindings per join (MAX_BINDINGS_PER_JOIN), got 40000',
    );
    expect(await metric(big, 'walcast_gateway_bus_subscriptions')).toBe(subscriptions);
    await expectServing(other, big);
  });

  it('a refused 1 MB topic is answered briefly: clipped topic, short reason', async () => {
    const client = await pool.open({ gateway: big, vsn: '1.0.0' });
    const topic = `realtime:${'x'.repeat(1024 * 1024)}`;
    client.send({ topic, event: 'phx_join', payload: {}, ref: '9', joinRef: '9' });
    const reply = await client.next(isErrorReply('TopicTooLong:'));
    expect(reply.ref).toBe('9');
    expect(String(reply.raw).length).toBeLessThan(600);
    expect(topic.startsWith(reply.topic.replace(/…$/, ''))).toBe(true);
  });

  it('schema and table names PostgreSQL cannot hold make no Redis pattern or table subscription', async () => {
    const client = await pool.open({ vsn: '2.0.0' });
    const patterns = await numpat(redis);
    const subscriptions = await metric(0, 'walcast_gateway_bus_subscriptions');
    const longName = 's'.repeat(64);
    const legacy = await client.join(`realtime:${longName}`);
    expect(legacy.payload.response.reason).toMatch(/^InvalidTopic: schema name is longer than 63 bytes/);
    const modern = await client.join('realtime:room', {
      config: { postgres_changes: [{ event: '*', schema: longName }] },
    });
    expect(modern.payload.status).toBe('ok');
    const system = await client.next((f) => f.event === 'system' && f.payload?.status === 'error');
    expect(system.payload.message).toMatch(/schema name is longer than 63 bytes/);
    expect(await numpat(redis)).toBe(patterns);
    // The channel itself is joined: its broadcast subscription is the only one it made.
    expect(await metric(0, 'walcast_gateway_bus_subscriptions')).toBe(subscriptions + 1);
  });
});

describe('limits (small settings)', () => {
  it('MAX_TOPIC_LENGTH and MAX_FILTER_LENGTH refuse long topics and filters', async () => {
    const client = await pool.open({ gateway: small, vsn: '2.0.0' });
    const longTopic = await client.join(`realtime:${'r'.repeat(60)}`, { config: {} });
    expect(longTopic.payload.response.reason).toBe(
      'TopicTooLong: the topic is longer than 64 bytes (MAX_TOPIC_LENGTH)',
    );
    const longFilter = await client.join(`realtime:public:users:name=eq.${'v'.repeat(130)}`);
    expect(longFilter.payload.response.reason).toBe(
      "TopicTooLong: the topic's filter is longer than 128 bytes (MAX_FILTER_LENGTH)",
    );
    const modern = await client.join('realtime:f', {
      config: {
        postgres_changes: [
          { event: '*', schema: 'public', table: 'users', filter: `name=eq.${'v'.repeat(130)}` },
        ],
      },
    });
    expect(modern.payload.status).toBe('ok');
    const system = await client.next((f) => f.event === 'system' && f.payload?.status === 'error');
    expect(system.payload.message).toBe(
      'Unable to subscribe to changes with given parameters: `filter` is longer than 128 bytes (MAX_FILTER_LENGTH)',
    );
    expect(await refusals(small, 'topic_bytes')).toBeGreaterThanOrEqual(1);
    expect(await refusals(small, 'filter_bytes')).toBeGreaterThanOrEqual(1);
  });

  it('MAX_BINDINGS_PER_JOIN, and a binding too large to echo', async () => {
    const client = await pool.open({ gateway: small, vsn: '2.0.0' });
    const binding = (table: string): Record<string, unknown> => ({ event: '*', schema: 'public', table });
    const eleven = Array.from({ length: 11 }, (_, i) => binding(`t${i}`));
    const tooMany = await client.join('realtime:b', { config: { postgres_changes: eleven } });
    expect(tooMany.payload.response.reason).toMatch(/^TooManyBindings: at most 10 /);
    const padded = { ...binding('users'), junk: 'j'.repeat(2000) };
    const tooLarge = await client.join('realtime:b', { config: { postgres_changes: [padded] } });
    expect(tooLarge.payload.response.reason).toBe(
      'BindingTooLarge: postgres_changes binding 0 is larger than 1152 bytes as JSON (MAX_FILTER_LENGTH + 1024)',
    );
  });

  it('MAX_CHANNELS_PER_SOCKET: the sixth channel is refused; leaving one makes room; a rejoin is not counted', async () => {
    const client = await pool.open({ gateway: small, vsn: '1.0.0' });
    for (let i = 0; i < 5; i++)
      expect((await client.join(`realtime:public:users:id=eq.${i}`)).payload.status).toBe('ok');
    const sixth = await client.join('realtime:public:users:id=eq.5');
    expect(sixth.payload.response.reason).toBe(
      'ChannelRateLimitReached: Too many channels: at most 5 per socket (MAX_CHANNELS_PER_SOCKET)',
    );
    expect((await client.join('realtime:public:users:id=eq.4')).payload.status).toBe('ok');
    await client.leave('realtime:public:users:id=eq.0');
    expect((await client.join('realtime:public:users:id=eq.5')).payload.status).toBe('ok');
    expect(await refusals(small, 'channels')).toBeGreaterThanOrEqual(1);
  });

  it('MAX_JOINS_PER_SECOND: a burst past it is refused and the socket closed with 4004', async () => {
    const other = await watcher(small);
    const client = await pool.open({ gateway: small, vsn: '1.0.0' });
    for (let i = 0; i < 25; i++)
      client.send({ topic: `realtime:nothing${i}`, event: 'phx_join', payload: {} });
    const closed = await client.closed;
    expect(closed.code).toBe(4004);
    expect(client.frames.some(isErrorReply('ClientJoinRateLimitReached: Too many joins per second'))).toBe(
      true,
    );
    expect(await refusals(small, 'join_rate')).toBeGreaterThanOrEqual(1);
    await expectServing(other, small);
  });

  it('MAX_BUS_SUBSCRIPTIONS: a join that needs one more than the gateway may hold is refused', async () => {
    const clients = await Promise.all([0, 1, 2].map(() => pool.open({ gateway: small, vsn: '2.0.0' })));
    const held = await metric(small, 'walcast_gateway_bus_subscriptions');
    // 12 may be held: fill what is left with distinct tables, five per channel.
    const tables = Array.from({ length: 12 - held }, (_, i) => `sub${i}`);
    let refused: string | undefined;
    for (let c = 0; c * 5 < tables.length + 5 && refused === undefined; c++) {
      const client = clients[c % clients.length]!;
      const wanted = [...tables.slice(c * 5, c * 5 + 5), ...(c * 5 + 5 > tables.length ? ['one_more'] : [])];
      const reply = await client.join(`realtime:subs${c}`, {
        config: { postgres_changes: wanted.map((table) => ({ event: '*', schema: 'public', table })) },
      });
      if (reply.payload.status === 'error') refused = reply.payload.response.reason as string;
    }
    expect(refused).toBe(
      'SubscriptionLimitReached: this gateway holds its maximum of 12 Redis subscriptions (MAX_BUS_SUBSCRIPTIONS); retry later',
    );
    expect(await metric(small, 'walcast_gateway_bus_subscriptions')).toBeLessThanOrEqual(12);
  });
});

describe('what an abusive socket made the gateway hold is released', () => {
  it('60 joins of 4 MB topics: RSS returns within 20% of before, no subscription left', async () => {
    const other = await watcher(big);
    const pid = stack.gateways[big]!.pid;
    const subscriptions = await metric(big, 'walcast_gateway_bus_subscriptions');
    const rssBefore = rssBytes(pid);
    const client = await pool.open({ gateway: big, vsn: '1.0.0' });
    const body = 'x'.repeat(4 * 1024 * 1024);
    let peak = rssBefore;
    for (let i = 0; i < 60; i++) {
      client.send({ topic: `realtime:${i}${body}`, event: 'phx_join', payload: {} });
      await client.next((f) => f.event === 'phx_reply' && f.payload?.status === 'error', 10_000);
      peak = Math.max(peak, rssBytes(pid));
    }
    await client.terminate();
    const after = await waitFor(
      () => {
        const rss = rssBytes(pid);
        return rss <= rssBefore * 1.2 && rss;
      },
      { timeoutMs: 30_000, message: `gateway RSS back within 20% of ${rssBefore} bytes` },
    );
    const mb = (n: number): string => (n / 2 ** 20).toFixed(0);
    console.log(
      `4 MB topics: gateway RSS before ${mb(rssBefore)} MB, peak ${mb(peak)} MB, after ${mb(after)} MB`,
    );
    expect(await metric(big, 'walcast_gateway_bus_subscriptions')).toBe(subscriptions);
    await expectServing(other, big);
  });

  it('MAX_FRAME_SIZE (1 MiB by default): a larger frame closes only its socket, counted', async () => {
    const other = await watcher();
    const before = await refusals(0, 'frame_bytes');
    const client = await pool.open({ vsn: '1.0.0' });
    client.send({ topic: 'phoenix', event: 'heartbeat', payload: { pad: 'x'.repeat(1024 * 1024) } });
    // uWS drops the connection without a close frame (the client sees 1006)
    expect((await client.closed).code).not.toBe(1000);
    await waitFor(async () => (await refusals(0, 'frame_bytes')) === before + 1, {
      message: 'the frame_bytes refusal counted',
    });
    await expectServing(other);
  });
});

describe('Redis restarted while the gateway holds many subscriptions', () => {
  it('the gateway restores them in batches, reports ready again, and serves new joins', async () => {
    const holder = await pool.open({ vsn: '2.0.0' });
    for (let c = 0; c < 20; c++) {
      const bindings = Array.from({ length: 100 }, (_, i) => ({
        event: '*',
        schema: 'public',
        table: `${'t'.repeat(55)}_${c}_${i}`,
      }));
      expect(
        (await holder.join(`realtime:hold${c}`, { config: { postgres_changes: bindings } })).payload.status,
      ).toBe('ok');
    }
    await waitFor(async () => (await metric(0, 'walcast_gateway_bus_subscriptions')) >= 2000, {
      timeoutMs: 10_000,
      message: '2,000 subscriptions held',
    });
    await backends.redis.restart();
    // Channels that may have missed changes are ended (phx_error) once Redis is back.
    await holder.next((f) => f.event === 'phx_error', 30_000);
    await waitFor(async () => (await httpGet(stack.gatewayPorts[0]!, '/readyz')).status === 200, {
      timeoutMs: 30_000,
      message: 'gateway ready again',
    });
    const fresh = await watcher();
    await expectServing(fresh);
  });
});
