// How sockets end: the idle timeout counts inbound frames only (SOCKET_TIMEOUT, close 4003), and
// SIGTERM drains the gateway (close 4000, exit 0 within SHUTDOWN_GRACE).
import {
  GATEWAY_ENTRY,
  PhoenixTestClient,
  type WalcastStack,
  freePort,
  spawnService,
  type Backends,
} from '@walcast/test-utils';

import {
  ClientPool,
  RawTcpWebSocket,
  addGateway,
  insertUser,
  isChangeFor,
  sleep,
  startUsersStack,
  stopUsersStack,
} from './support';

jest.setTimeout(60_000);

const USERS = 'realtime:public:users';
const SOCKET_TIMEOUT_MS = 1500;

let backends: Backends;
let stack: WalcastStack;
const pool = new ClientPool(() => stack);

beforeAll(async () => {
  ({ backends, stack } = await startUsersStack({
    gateways: 1,
    gatewayEnv: { SOCKET_TIMEOUT: String(SOCKET_TIMEOUT_MS), SHUTDOWN_GRACE: '2s' },
  }));
});

afterEach(() => pool.closeAll());

afterAll(() => stopUsersStack(pool, stack, backends), 30_000);

describe(`SOCKET_TIMEOUT=${SOCKET_TIMEOUT_MS}`, () => {
  it('closes a silent socket with 4003 after 1.5–3 s while a heartbeating one stays open past 3 s', async () => {
    const started = Date.now();
    const [idle, receiving, alive] = await Promise.all([
      pool.open({ vsn: '1.0.0' }),
      pool.open({ vsn: '2.0.0' }),
      pool.open({ vsn: '2.0.0' }),
    ]);
    // Joined and receiving changes, but sending nothing after the join: outbound traffic does not count.
    const join = await receiving.join(USERS);
    expect(join.payload.status).toBe('ok');
    const joinedAt = Date.now();

    let idleClosedAfter = -1;
    void idle.closed.then(() => (idleClosedAfter = Date.now() - started));
    let receivingClosedAfter = -1;
    void receiving.closed.then(() => (receivingClosedAfter = Date.now() - joinedAt));

    // The heartbeat interval is the test input, not synchronisation.
    while (Date.now() - started < 3500) {
      expect((await alive.heartbeat()).payload.status).toBe('ok');
      if (Date.now() - joinedAt < 1000) {
        const id = await insertUser(backends.pg.url);
        await receiving.next(isChangeFor(USERS, 'INSERT', id));
      }
      await sleep(500);
    }

    expect(await idle.closed).toEqual({ code: 4003, reason: 'idle timeout' });
    expect(idleClosedAfter).toBeGreaterThanOrEqual(SOCKET_TIMEOUT_MS - 100);
    expect(idleClosedAfter).toBeLessThanOrEqual(3000);
    expect((await receiving.closed).code).toBe(4003);
    expect(receivingClosedAfter).toBeGreaterThanOrEqual(SOCKET_TIMEOUT_MS - 100);
    expect(receivingClosedAfter).toBeLessThanOrEqual(3000);
    expect(alive.isOpen).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect((await alive.heartbeat()).payload.status).toBe('ok');
  });

  it('any inbound frame counts, even a malformed one', async () => {
    const started = Date.now();
    const client = await pool.open();
    while (Date.now() - started < 3200) {
      client.sendRaw('not json');
      await sleep(500);
    }
    expect(client.isOpen).toBe(true);
    expect(client.frames.filter((f) => f.payload?.status === 'error').length).toBeGreaterThanOrEqual(6);
  });
});

describe('SOCKET_TIMEOUT settings', () => {
  it('SOCKET_TIMEOUT=infinity starts and serves', async () => {
    const index = await addGateway(stack, { SOCKET_TIMEOUT: 'infinity' });
    const client = await pool.open({ gateway: index });
    expect((await client.join(USERS)).payload.status).toBe('ok');
    const id = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', id));
    expect((await client.heartbeat()).payload.status).toBe('ok');
  });

  it('an invalid SOCKET_TIMEOUT is refused at startup with exit code 2 naming the variable', async () => {
    const gateway = await spawnService({
      name: 'gateway-bad-timeout',
      entry: GATEWAY_ENTRY,
      env: { PORT: String(await freePort()), REDIS_URL: backends.redis.url, SOCKET_TIMEOUT: 'forever' },
    });
    const timer = setTimeout(() => void gateway.kill(), 10_000);
    const exit = await gateway.exited.finally(() => clearTimeout(timer));
    expect(exit).toEqual({ code: 2, signal: null });
    expect(gateway.lines.join('\n')).toContain('SOCKET_TIMEOUT');
  });
});

describe('graceful shutdown (SIGTERM, SHUTDOWN_GRACE=2s)', () => {
  it('closes every client with 4000 and exits 0 well within the grace period', async () => {
    const index = await addGateway(stack, {});
    const clients = await Promise.all([
      pool.open({ gateway: index, vsn: '1.0.0' }),
      pool.open({ gateway: index, vsn: '2.0.0' }),
      pool.open({ gateway: index, vsn: '2.0.0', path: '/realtime/v1/websocket' }),
    ]);
    expect((await clients[0].join(USERS)).payload.status).toBe('ok');
    expect((await clients[1].join('realtime:*')).payload.status).toBe('ok');

    const started = Date.now();
    const exit = await stack.gateways[index]!.stop();
    const took = Date.now() - started;
    expect(exit).toEqual({ code: 0, signal: null });
    expect(took).toBeLessThan(2000);
    for (const client of clients) expect((await client.closed).code).toBe(4000);
    await expect(PhoenixTestClient.connect(stack.endpoint(index, '/socket/websocket'))).rejects.toThrow();
  });

  it('exits 0 within the grace period even when a client never answers the close', async () => {
    const index = await addGateway(stack, {});
    // A client that completed the handshake and then stopped reading: it never answers the close.
    const stuck = await RawTcpWebSocket.open(stack.gatewayPorts[index]!);
    stuck.socket.pause();
    const polite = await pool.open({ gateway: index });
    try {
      const started = Date.now();
      const exit = await stack.gateways[index]!.stop();
      const took = Date.now() - started;
      expect(exit).toEqual({ code: 0, signal: null });
      expect(took).toBeLessThan(2000 + 500);
      expect((await polite.closed).code).toBe(4000);
      // What the stuck client was sent, read now: a close frame with code 4000.
      const ended = new Promise((resolve) => stuck.socket.once('close', resolve));
      stuck.socket.resume();
      await ended;
      expect(stuck.frames).toEqual([{ kind: 'close', code: 4000 }]);
    } finally {
      stuck.destroy();
    }
  });
});
