// The gateway's HTTP surface: both websocket paths, `vsn` negotiation (missing → V1, unknown →
// HTTP 403 before any websocket), /healthz, /readyz following Redis, 404 for anything else, and
// the refusal to run on uWebSockets.js's JavaScript fallback (docs/protocol.md P1).
import {
  GATEWAY_ENTRY,
  PhoenixTestClient,
  type WalcastStack,
  WebSocketUpgradeError,
  freePort,
  spawnService,
  waitFor,
  type Backends,
} from '@walcast/test-utils';

import {
  ClientPool,
  RawWebSocket,
  httpGet,
  insertUser,
  isChangeFor,
  numsub,
  redisClient,
  startUsersStack,
  stopUsersStack,
} from './support';
import { topicForTable } from '@walcast/protocol';

jest.setTimeout(60_000);

const USERS = 'realtime:public:users';
const USERS_BUS = topicForTable('public', 'users');
const GHOST = 'realtime:public:ghost';
const GHOST_BUS = topicForTable('public', 'ghost');

let backends: Backends;
let stack: WalcastStack;
const pool = new ClientPool(() => stack);

beforeAll(async () => {
  ({ backends, stack } = await startUsersStack({ gateways: 1, gatewayEnv: { JOIN_TIMEOUT: '1s' } }));
});

afterEach(() => pool.closeAll());

afterAll(() => stopUsersStack(pool, stack, backends), 30_000);

function port(): number {
  return stack.gatewayPorts[0]!;
}

describe('websocket endpoints', () => {
  it.each(['/socket/websocket', '/realtime/v1/websocket'])(
    'accepts %s and answers a heartbeat',
    async (path) => {
      const client = await pool.open({ path });
      const reply = await client.heartbeat();
      expect(JSON.parse(String(reply.raw))).toEqual({
        topic: 'phoenix',
        event: 'phx_reply',
        payload: { status: 'ok', response: {} },
        ref: reply.ref,
      });
    },
  );

  it.each(['/socket/websocket', '/realtime/v1/websocket'])('delivers changes on %s', async (path) => {
    const client = await pool.open({ path, vsn: '2.0.0' });
    const join = await client.join(USERS);
    expect(join.payload).toEqual({ status: 'ok', response: {} });
    const id = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', id));
  });

  it('speaks vsn 1.0.0 (JSON objects) when the vsn parameter is missing', async () => {
    const ws = new RawWebSocket(`ws://127.0.0.1:${port()}/socket/websocket`);
    try {
      const first = new Promise<string>((resolve, reject) => {
        ws.on('message', (data) => resolve(data.toString('utf8')));
        ws.on('error', reject);
        ws.on('close', (code) => reject(new Error(`closed with ${code} before a reply`)));
      });
      await new Promise<void>((resolve, reject) => {
        ws.on('open', resolve);
        ws.on('error', reject);
      });
      ws.send('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"hb1"}');
      expect(JSON.parse(await first)).toEqual({
        topic: 'phoenix',
        event: 'phx_reply',
        payload: { status: 'ok', response: {} },
        ref: 'hb1',
      });
    } finally {
      ws.terminate();
    }
  });

  it('also treats an empty vsn as 1.0.0', async () => {
    const client = await PhoenixTestClient.connect(`ws://127.0.0.1:${port()}/socket/websocket?vsn=`);
    try {
      client.sendRaw('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"e1"}');
      const reply = await client.next((f) => f.ref === 'e1');
      expect(Array.isArray(JSON.parse(String(reply.raw)))).toBe(false);
    } finally {
      await client.terminate();
    }
  });

  it.each(['3.0.0', '2.0', 'v1.0.0'])('refuses vsn=%s with HTTP 403 before any websocket', async (vsn) => {
    const err = await PhoenixTestClient.connect(
      `ws://127.0.0.1:${port()}/realtime/v1/websocket?vsn=${vsn}`,
    ).then(
      (c) => {
        void c.terminate();
        return new Error('connected');
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WebSocketUpgradeError);
    expect((err as WebSocketUpgradeError).statusCode).toBe(403);
  });

  it('keeps serving after a refused upgrade', async () => {
    await expect(
      PhoenixTestClient.connect(`ws://127.0.0.1:${port()}/socket/websocket?vsn=3.0.0`),
    ).rejects.toBeInstanceOf(WebSocketUpgradeError);
    const client = await pool.open({ vsn: '2.0.0' });
    expect((await client.heartbeat()).payload).toEqual({ status: 'ok', response: {} });
  });
});

describe('HTTP routes', () => {
  it('/healthz answers 200', async () => {
    const res = await httpGet(port(), '/healthz');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 while Redis is up', async () => {
    const res = await httpGet(port(), '/readyz');
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ready' });
  });

  it.each(['/', '/nope', '/socket', '/realtime/v1/websocket/extra', '/healthz/x'])(
    'answers 404 for %s',
    async (path) => {
      expect((await httpGet(port(), path)).status).toBe(404);
    },
  );

  it('answers 404 for a POST to an unknown path', async () => {
    const res = await fetch(`http://127.0.0.1:${port()}/nope`, { method: 'POST', body: 'x' });
    await res.body?.cancel();
    expect(res.status).toBe(404);
  });
});

describe('uWebSockets.js native binary guard', () => {
  it('exits non-zero and says why when uWS falls back to its JavaScript implementation', async () => {
    const gateway = await spawnService({
      name: 'gateway-fallback',
      entry: GATEWAY_ENTRY,
      env: {
        PORT: String(await freePort()),
        REDIS_URL: backends.redis.url,
        UWS_USE_FALLBACK: '1',
      },
    });
    // A guard that failed to fire would leave a serving gateway: bound the wait, then kill it.
    const timer = setTimeout(() => void gateway.kill(), 10_000);
    const exit = await gateway.exited.finally(() => clearTimeout(timer));
    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(gateway.lines.join('\n')).toContain('uWebSockets.js did not load its native binary');
  });
});

// Last: it stops Redis under the whole stack.
describe('/readyz follows Redis', () => {
  it('answers 503 with a reason while Redis is down and 200 again once it is back', async () => {
    const redis = redisClient(backends.redis.url);
    try {
      const joined = await pool.open({ vsn: '2.0.0' });
      expect((await joined.join(USERS)).payload.status).toBe('ok');
      await backends.redis.stop();
      const down = await waitFor(
        async () => {
          const res = await httpGet(port(), '/readyz');
          return res.status === 503 ? res : null;
        },
        { timeoutMs: 10_000, message: '/readyz answering 503' },
      );
      const body = JSON.parse(down.body) as { status: string; reason: string };
      expect(body.status).toBe('not ready');
      expect(body.reason).toMatch(/^redis /);
      // Liveness is not readiness: the process and its sockets stay up.
      expect((await httpGet(port(), '/healthz')).status).toBe(200);
      expect((await joined.heartbeat()).payload.status).toBe('ok');

      // A join that cannot subscribe is refused after JOIN_TIMEOUT (1 s here) instead of hanging.
      const late = await pool.open({ vsn: '1.0.0' });
      const refused = await late.join(GHOST, {}, 5000);
      expect(refused.payload.status).toBe('error');
      expect(refused.payload.response.reason).toMatch(/^BusUnavailable: /);

      await backends.redis.start();
      await waitFor(async () => (await httpGet(port(), '/readyz')).status === 200, {
        timeoutMs: 20_000,
        message: '/readyz answering 200 after Redis came back',
      });
      // The channel joined before the outage may have missed changes: it is ended with phx_error
      // (clients rejoin by themselves), and once rejoined it receives new changes. The refused
      // join left no subscription behind.
      await joined.next((f) => f.topic === USERS && f.event === 'phx_error', 10_000);
      expect((await joined.join(USERS)).payload.status).toBe('ok');
      await waitFor(async () => (await numsub(redis, USERS_BUS)) === 1, {
        timeoutMs: 10_000,
        message: 'the gateway to resubscribe to the users table',
      });
      expect(await numsub(redis, GHOST_BUS)).toBe(0);
      const id = await waitFor(() => insertUser(backends.pg.url), { timeoutMs: 10_000 });
      await joined.next(isChangeFor(USERS, 'INSERT', id), 15_000);
      expect((await late.join(USERS)).payload.status).toBe('ok');
    } finally {
      redis.disconnect();
    }
  });
});
