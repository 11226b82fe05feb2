// The gateway's /metrics (Prometheus text), sequence-gap counting on the bus, and the per-socket
// backpressure limit: a socket that stops reading is closed while the others receive everything.
import { encodeBusMessage, topicForTable, type BusHeader } from '@walcast/protocol';
import { type WalcastStack, waitFor, type Backends } from '@walcast/test-utils';

import {
  ClientPool,
  RawTcpWebSocket,
  addGateway,
  httpGet,
  insertUser,
  isChangeFor,
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

afterEach(() => pool.closeAll());

afterAll(async () => {
  await pool.closeAll();
  await redis?.quit().catch(() => undefined);
  redis?.disconnect();
  await stack?.stop();
  await backends?.stop();
}, 30_000);

/** The value of one series (`name` or `name{labels}` exactly as exposed); undefined if absent. */
async function metric(gateway: number, series: string): Promise<number | undefined> {
  const { status, body } = await httpGet(stack.gatewayPorts[gateway]!, '/metrics');
  expect(status).toBe(200);
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function envelope(header: Partial<BusHeader>, id: number, padding = ''): string {
  const full: BusHeader = { v: 1, src: 'test-src', seq: 1, lsn: '0/1', type: 'INSERT', ...header };
  const event = {
    type: 'INSERT',
    schema: 'public',
    table: 'users',
    commit_timestamp: new Date().toISOString(),
    columns: [
      { name: 'id', type: 'int4' },
      { name: 'name', type: 'text' },
    ],
    record: { id, name: padding },
    old_record: null,
    errors: null,
  };
  return encodeBusMessage(full, JSON.stringify(event));
}

describe('/metrics', () => {
  it('exposes connections, channels, joins, changes in and frames out, with their values', async () => {
    const before = {
      joins: (await metric(0, 'walcast_gateway_joins_total{result="ok"}')) ?? NaN,
      frames: (await metric(0, 'walcast_gateway_frames_out_total')) ?? NaN,
    };
    const [a, b] = await Promise.all([pool.open(), pool.open({ vsn: '2.0.0' })]);
    expect((await a.join(USERS)).payload.status).toBe('ok');
    expect((await b.join(USERS)).payload.status).toBe('ok');
    expect((await a.join('realtime:public:nope:id=eq.x')).payload.status).toBe('ok');
    expect(await metric(0, 'walcast_gateway_connections')).toBe(2);
    expect(await metric(0, 'walcast_gateway_channels')).toBe(3);
    expect(await metric(0, 'walcast_gateway_joins_total{result="ok"}')).toBe(before.joins + 3);

    const id = await insertUser(backends.pg.url);
    await Promise.all([a.next(isChangeFor(USERS, 'INSERT', id)), b.next(isChangeFor(USERS, 'INSERT', id))]);
    await waitFor(async () => (await metric(0, 'walcast_gateway_frames_out_total')) === before.frames + 2, {
      timeoutMs: 2000,
      message: 'two frames counted',
    });
    expect(await metric(0, 'walcast_gateway_changes_in_total')).toBeGreaterThanOrEqual(1);
    expect(await metric(0, 'walcast_gateway_bytes_out_total')).toBeGreaterThan(200);
    // The ingester stamps its publish time, so the latency histogram counted this change.
    expect(await metric(0, 'walcast_gateway_publish_to_send_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(await metric(0, 'walcast_gateway_redis_ready')).toBe(1);
    expect(await metric(0, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('counts refused joins and malformed frames; labels never name a topic', async () => {
    const client = await pool.open();
    const errorsBefore = (await metric(0, 'walcast_gateway_joins_total{result="error"}')) ?? NaN;
    const protocolBefore = (await metric(0, 'walcast_gateway_protocol_errors_total')) ?? NaN;
    expect((await client.join('realtime:public:users:id=zz.1')).payload.status).toBe('error');
    client.sendRaw('not json');
    await client.heartbeat();
    expect(await metric(0, 'walcast_gateway_joins_total{result="error"}')).toBe(errorsBefore + 1);
    expect(await metric(0, 'walcast_gateway_protocol_errors_total')).toBe(protocolBefore + 1);
    const { body } = await httpGet(stack.gatewayPorts[0]!, '/metrics');
    expect(body).not.toContain('realtime:');
    expect(body).not.toContain('public');
  });

  it('counts token refusals by stage and reason on a secure gateway', async () => {
    const index = await addGateway(stack, {
      SECURE_CHANNELS: 'true',
      ROW_AUTHORIZATION: 'off',
      JWT_SECRET: 'x'.repeat(40),
    });
    await expect(pool.open({ gateway: index })).rejects.toThrow();
    await expect(pool.open({ gateway: index, path: '/socket/websocket?apikey=a.b.c' })).rejects.toThrow();
    expect(await metric(index, 'walcast_gateway_auth_refusals_total{stage="connect",reason="missing"}')).toBe(
      1,
    );
    expect(
      await metric(index, 'walcast_gateway_auth_refusals_total{stage="connect",reason="malformed"}'),
    ).toBe(1);
    await stack.gateways[index]!.stop();
  });
});

describe('sequence gaps on the bus', () => {
  it('counts the changes missing between two seqs of one source and ends the channels concerned', async () => {
    const client = await pool.open();
    expect((await client.join(USERS)).payload.status).toBe('ok');
    const gapsBefore = (await metric(0, 'walcast_gateway_stream_gaps_total')) ?? NaN;
    const missedBefore = (await metric(0, 'walcast_gateway_missed_changes_total')) ?? NaN;
    const publish = (header: Partial<BusHeader>, id: number): Promise<unknown> =>
      redis.call('PUBLISH', USERS_BUS, envelope(header, id));
    const failedBefore = (await metric(0, 'walcast_gateway_channels_failed_total{reason="gap"}')) ?? NaN;
    await publish({ src: 'gap-a', seq: 1 }, 9001);
    await publish({ src: 'gap-a', seq: 2 }, 9002);
    await client.next(isChangeFor(USERS, 'INSERT', 9002));
    await publish({ src: 'gap-a', seq: 5 }, 9005); // 3 and 4 never came
    // The channel may have missed changes: it is ended with phx_error, so the client rejoins.
    await client.next((f) => f.topic === USERS && f.event === 'phx_error');
    expect(client.frames.some(isChangeFor(USERS, 'INSERT', 9005))).toBe(false);
    expect((await client.join(USERS)).payload.status).toBe('ok');
    await publish({ src: 'gap-a', seq: 6 }, 9006);
    await publish({ src: 'gap-a', seq: 6 }, 9006); // a duplicate is not a gap
    await publish({ src: 'gap-b', seq: 7 }, 9007); // a new source (restart) starts its own sequence
    await publish({ src: 'gap-b', seq: 8 }, 9008);
    await client.next(isChangeFor(USERS, 'INSERT', 9008));
    expect(await metric(0, 'walcast_gateway_stream_gaps_total')).toBe(gapsBefore + 1);
    expect(await metric(0, 'walcast_gateway_missed_changes_total')).toBe(missedBefore + 2);
    expect(await metric(0, 'walcast_gateway_channels_failed_total{reason="gap"}')).toBe(failedBefore + 1);
  });
});

describe('per-socket backpressure', () => {
  it('closes a socket that stops reading; the others receive everything; memory stays bounded', async () => {
    const index = await addGateway(stack, { MAX_BACKPRESSURE: '1MiB' });
    const port = stack.gatewayPorts[index]!;
    const stuck = await RawTcpWebSocket.open(port);
    stuck.sendTexts(JSON.stringify({ topic: USERS, event: 'phx_join', payload: {}, ref: '1' }));
    await waitFor(() => stuck.json().some((f) => (f as { event?: string }).event === 'phx_reply'), {
      timeoutMs: 5000,
      message: 'the stuck client joined',
    });
    stuck.socket.pause();
    const good = await pool.open({ gateway: index });
    expect((await good.join(USERS)).payload.status).toBe('ok');

    // 400 changes of ~50 KB: 20 MB, far beyond the kernel's socket buffers and the 1 MiB limit.
    const padding = 'p'.repeat(50_000);
    const count = 400;
    for (let i = 1; i <= count; i++) {
      void redis.call('PUBLISH', USERS_BUS, envelope({ src: 'bp', seq: i }, 20_000 + i, padding));
      if (i % 10 === 0) await redis.call('PING'); // paced, so a reading client keeps up
    }
    await good.next(isChangeFor(USERS, 'INSERT', 20_000 + count), 20_000);
    const received = good.frames.filter((f) => f.topic === USERS && f.event === 'INSERT');
    expect(received).toHaveLength(count);

    await waitFor(async () => (await metric(index, 'walcast_gateway_connections')) === 1, {
      timeoutMs: 5000,
      message: 'the stuck socket to be closed',
    });
    expect(await metric(index, 'walcast_gateway_closes_total{reason="lost"}')).toBe(1);
    expect(await metric(index, 'process_resident_memory_bytes')).toBeLessThan(300 * 1024 * 1024);
    // The good client keeps receiving after the slow one is gone.
    const id = await insertUser(backends.pg.url);
    await good.next(isChangeFor(USERS, 'INSERT', id));
    stuck.destroy();
    await stack.gateways[index]!.stop();
  });
});
