/**
 * Broadcast limits and refusals end to end: the channel rate (MAX_CHANNEL_BROADCASTS_PER_SECOND)
 * seen by realtime-js 2.119.1, garbage vsn 2.0.0 binary frames over a raw `ws` socket, and private
 * channels on gateways without a database. Two gateway processes on one Redis: gateway 0 with the
 * defaults, gateway 1 with a channel rate of 5 per second; neither has DATABASE_URL.
 *
 * "Nothing more arrived" is proved with a later message that did arrive from the same sender on the
 * same topic (see support/broadcast-client.ts), never with a sleep.
 */
import { REALTIME_SUBSCRIBE_STATES } from '@supabase/realtime-js';
import {
  PhoenixTestClient,
  WalcastStack,
  freePort,
  sql,
  startBackends,
  uniqueName,
  type Backends,
  type PhoenixFrame,
  type PhoenixVsn,
} from '@walcast/test-utils';
import { BroadcastClient, decodeKind4, encodeKind3, type Kind3 } from './support/broadcast-client';
import type { Vsn } from './support/modern-client';

const CHANNEL_RATE = 5;
const TOO_MANY = 'Too many messages per second';

/** Gateway 2's MAX_SOCKET_BROADCASTS_PER_SECOND. */
const SOCKET_RATE = 5;

let backends: Backends;
let stack: WalcastStack;
const open: Array<{ close(): unknown }> = [];
const closing: unknown[] = [];

beforeAll(async () => {
  backends = await startBackends();
  await sql(backends.pg.url, `create publication supabase_realtime for all tables`);
  // No database on any gateway: private channels cannot be authorized there.
  stack = await WalcastStack.start(backends, { gateways: 1, gatewayEnv: { DATABASE_URL: '' } });
  stack.gatewayPorts.push(await freePort());
  await stack.startGateway(1, { MAX_CHANNEL_BROADCASTS_PER_SECOND: String(CHANNEL_RATE) });
  stack.gatewayPorts.push(await freePort());
  await stack.startGateway(2, { MAX_SOCKET_BROADCASTS_PER_SECOND: String(SOCKET_RATE) });
});

afterEach(() => {
  closing.push(...open.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await Promise.allSettled(closing);
  await stack?.stop();
  await backends?.stop();
});

function client(vsn: Vsn, gateway: number): BroadcastClient {
  const c = new BroadcastClient(stack.endpoint(gateway, '/realtime/v1'), vsn);
  open.push(c);
  return c;
}

async function raw(vsn: PhoenixVsn, gateway: number): Promise<PhoenixTestClient> {
  const c = await PhoenixTestClient.connect(`${stack.endpoint(gateway)}/websocket`, { vsn });
  open.push(c);
  return c;
}

/** realtime-js 2.x's join payload for a broadcast-only channel. */
function joinPayload(config: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    config: {
      broadcast: { ack: false, self: false },
      presence: { key: '', enabled: false },
      postgres_changes: [],
      private: false,
      ...config,
    },
    access_token: 'any-key',
  };
}

const isErrorReply = (f: PhoenixFrame): boolean => f.event === 'phx_reply' && f.payload?.status === 'error';
const PROTOCOL_VIOLATION = expect.stringMatching(/^ProtocolViolation: \S/);

describe('channel broadcast rate', () => {
  it('past MAX_CHANNEL_BROADCASTS_PER_SECOND the channel gets the system error and is closed; the socket, its other channels and other clients carry on', async () => {
    const flood = uniqueName('flood');
    const calm = uniqueName('calm');
    const sender = client('2.0.0', 1);
    const watcher = client('1.0.0', 0);
    const peer = client('2.0.0', 1);
    const [sFlood, sCalm, wFlood, wCalm, pFlood] = await Promise.all([
      sender.channel(flood).ready(),
      sender.channel(calm).ready(),
      watcher.channel(flood).ready(),
      watcher.channel(calm).ready(),
      peer.channel(flood).ready(),
    ]);

    const results = await Promise.all(
      Array.from({ length: 4 * CHANNEL_RATE }, (_, i) => sFlood.send('n', { i })),
    );
    expect(new Set(results)).toEqual(new Set(['ok'])); // no ack: realtime-js resolves locally
    expect(await sFlood.waitForSystem((p) => p.status === 'error' && p.message === TOO_MANY)).toMatchObject({
      extension: 'broadcast',
      message: TOO_MANY,
      status: 'error',
    });
    await sFlood.waitForStatus(REALTIME_SUBSCRIBE_STATES.CLOSED);
    const inbound = sender
      .sent('in')
      .filter((f) => !f.binary)
      .map((f) => JSON.parse(f.bytes.toString('utf8')) as unknown[]);
    const systemAt = inbound.findIndex((f) => f[2] === `realtime:${flood}` && f[3] === 'system');
    expect(inbound[systemAt + 1]).toEqual([
      expect.any(String),
      expect.any(String),
      `realtime:${flood}`,
      'phx_close',
      {},
    ]);

    // The sender's socket and its other channel still work.
    await sCalm.send('calm', { ok: true });
    expect(await wCalm.waitForEvent('calm')).toEqual({
      type: 'broadcast',
      event: 'calm',
      payload: { ok: true },
    });
    // Another client on the same gateway and channel still sends, and the watcher still receives.
    await pFlood.send('peer', {});
    await wFlood.waitForEvent('peer');
    // Rejoined, the sender has a fresh rate; its 'after' proves nothing else from the burst comes.
    const again = await sender.channel(flood).ready();
    await again.send('after', {});
    await wFlood.waitFor((b) => b.event === 'after');
    const passed = wFlood.received.filter((b) => b.event === 'n').map((b) => (b.payload as { i: number }).i);
    expect(passed.length).toBeGreaterThanOrEqual(CHANNEL_RATE);
    expect(passed.length).toBeLessThan(CHANNEL_RATE + 3); // the bucket refills 5/s during the burst
    expect(passed).toEqual(Array.from({ length: passed.length }, (_, i) => i));
    expect(pFlood.system.filter((p) => p.status === 'error')).toEqual([]);
    expect(pFlood.statuses.map((s) => s.status)).toEqual([REALTIME_SUBSCRIBE_STATES.SUBSCRIBED]);
  });
});

describe('garbage binary frames', () => {
  const kind3 = (topic: string, f: Partial<Kind3>): Buffer =>
    encodeKind3({
      joinRef: '1',
      ref: '',
      topic,
      event: 'e',
      meta: '',
      enc: 1,
      payload: Buffer.from('{}'),
      ...f,
    });

  it('each is answered with ProtocolViolation; the socket stays usable and other clients keep receiving', async () => {
    const room = uniqueName('garbage');
    const topic = `realtime:${room}`;
    const c = await raw('2.0.0', 0);
    expect((await c.join(topic, joinPayload())).payload).toEqual({
      status: 'ok',
      response: { postgres_changes: [] },
    });
    const v2 = client('2.0.0', 1);
    const v1 = client('1.0.0', 0);
    const [r2, r1] = await Promise.all([v2.channel(room).ready(), v1.channel(room).ready()]);

    // Unreadable frames: no ref or topic to answer on, so the reply goes to `phoenix`.
    const unreadable = [
      Buffer.from([3, 1, 1, 200, 1, 0, 1]), // lengths past the end
      Buffer.from([9, 0, 0]), // no such kind
      Buffer.from([4, 0, 0, 0, 1]), // kind 4 is server → client only
      Buffer.from([3, 0, 0]), // shorter than the header
    ];
    for (const bytes of unreadable) {
      c.sendRaw(bytes);
      const reply = await c.next(isErrorReply);
      expect(reply).toMatchObject({ topic: 'phoenix', ref: null });
      expect(reply.payload).toEqual({ status: 'error', response: { reason: PROTOCOL_VIOLATION } });
    }
    // Readable header, bad content: answered on the frame's own topic and ref.
    const bad: Array<[string, Buffer]> = [
      ['11', kind3(topic, { ref: '11', enc: 7 })],
      ['12', kind3(topic, { ref: '12', payload: Buffer.from('{nope') })],
      ['13', kind3(topic, { ref: '13', meta: 'not json' })],
    ];
    for (const [ref, bytes] of bad) {
      c.sendRaw(bytes);
      const reply = await c.next(isErrorReply);
      expect(reply).toMatchObject({ topic, ref });
      expect(reply.payload).toEqual({ status: 'error', response: { reason: PROTOCOL_VIOLATION } });
    }
    // Meanwhile others keep talking: v1 → v2 across gateways.
    await r1.send('v1-during', { n: 1 });
    await r2.waitForEvent('v1-during');

    expect(c.isOpen).toBe(true);
    expect((await c.heartbeat()).payload).toEqual({ status: 'ok', response: {} });
    c.sendRaw(kind3(topic, { ref: '14', event: 'good', payload: Buffer.from('{"fine":true}') }));
    const [good2, good1] = await Promise.all([r2.waitForEvent('good'), r1.waitForEvent('good')]);
    expect(good2).toEqual({ type: 'broadcast', event: 'good', payload: { fine: true } });
    expect(good1).toEqual(good2);
    // None of the garbage reached anyone: 'good' came after it from the same socket.
    expect(r2.received.map((b) => b.event)).toEqual(['v1-during', 'good']);
    expect(r1.received.map((b) => b.event)).toEqual(['good']);
    const kind4 = v2
      .sent('in')
      .filter((f) => f.binary)
      .map((f) => decodeKind4(f.bytes));
    expect(kind4).toEqual([
      { topic, event: 'good', meta: '', enc: 1, payload: Buffer.from('{"fine":true}') },
    ]);
    expect(c.frames.some((f) => f.event === 'phx_close')).toBe(false);
  });

  it('a binary frame on a vsn 1.0.0 socket is answered with ProtocolViolation and the socket stays open', async () => {
    const c = await raw('1.0.0', 0);
    c.sendRaw(
      encodeKind3({
        joinRef: '1',
        ref: '2',
        topic: 'realtime:x',
        event: 'e',
        meta: '',
        enc: 1,
        payload: Buffer.from('{}'),
      }),
    );
    const reply = await c.next(isErrorReply);
    expect(reply.payload).toEqual({ status: 'error', response: { reason: PROTOCOL_VIOLATION } });
    expect((await c.heartbeat()).payload).toEqual({ status: 'ok', response: {} });
  });
});

describe('private channels with SECURE_CHANNELS off', () => {
  it('are served without checks (every channel is open) and stay apart from the public channel of the same name', async () => {
    const room = uniqueName('secret');
    const c = await raw('2.0.0', 0);
    const joined = await c.join(`realtime:${room}`, joinPayload({ private: true }));
    expect(joined.payload).toMatchObject({ status: 'ok' });

    const sender = await client('2.0.0', 0).channel(room, { private: true }).ready();
    const priv = await client('1.0.0', 0).channel(room, { private: true }).ready();
    const pub = await client('2.0.0', 0).channel(room, { private: false }).ready();
    const pubSender = await client('1.0.0', 0).channel(room, { private: false }).ready();
    await sender.send('secret', { n: 1 });
    await pubSender.send('public', { n: 2 });
    await priv.waitForEvent('secret');
    await pub.waitForEvent('public');
    await pubSender.send('public', { n: 3 });
    await pub.waitFor((b) => (b.payload as { n?: number }).n === 3);
    expect(pub.received.map((b) => b.event)).toEqual(['public', 'public']);
    expect(priv.received.map((b) => b.event)).toEqual(['secret']);
  });
});

describe('the per-socket broadcast rate', () => {
  it('past MAX_SOCKET_BROADCASTS_PER_SECOND over all its channels, the socket gets the system error and is closed with 4005; others carry on', async () => {
    const c = await raw('2.0.0', 2);
    const other = await raw('2.0.0', 2);
    const [a, b] = [uniqueName('ra'), uniqueName('rb')];
    for (const room of [a, b])
      expect((await c.join(`realtime:${room}`, joinPayload())).payload).toMatchObject({ status: 'ok' });
    // SOCKET_RATE + 1 broadcasts spread over two channels, each channel under its own rate.
    for (let i = 0; i <= SOCKET_RATE; i++) {
      const topic = `realtime:${i % 2 === 0 ? a : b}`;
      c.send({
        topic,
        event: 'broadcast',
        payload: { type: 'broadcast', event: 'e', payload: { i } },
        ref: `s${i}`,
        joinRef: null,
      });
    }
    const system = await c.next((f) => f.event === 'system');
    expect(system.payload).toMatchObject({ status: 'error', message: 'Too many messages per second' });
    expect((await c.closed).code).toBe(4005);
    expect((await other.heartbeat()).payload).toEqual({ status: 'ok', response: {} });
  });
});
