/**
 * The REST broadcast API end to end (docs/rest-broadcast.md): real gateways (SECURE_CHANNELS on),
 * Redis, and the published @supabase/supabase-js / @supabase/realtime-js 2.119.1 as senders and
 * receivers. Messages are posted to gateway 0 and received on gateway 1, so every delivery crosses
 * Redis. Negative checks ("nothing arrived") send a marker after the message under test: one
 * sender's messages on one topic keep their order, so once the marker is in, the other would be too.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { createClient } from '@supabase/supabase-js';
import { RealtimeClient } from '@supabase/realtime-js';
import {
  freePort,
  startStackWithSchema,
  waitFor,
  type Backends,
  type WalcastStack,
} from '@walcast/test-utils';
import { signHs256 } from './support/jwt';
import { Transport, disconnect, type Vsn } from './support/modern-client';

jest.setTimeout(60_000);

const SECRET = 'rest-broadcast-test-secret-with-32-chars!';
const ANON_KEY = signHs256({ role: 'anon' }, SECRET);
const MAX_BROADCAST_BYTES = 2000;
const MAX_REST_BODY_BYTES = 64 * 1024;

let backends: Backends;
let stack: WalcastStack;
/** A third gateway with MAX_REST_BROADCASTS_PER_SECOND=3. */
let limited = 0;
const open: Array<() => Promise<void>> = [];

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(['create publication supabase_realtime for all tables'], {
    gateways: 2,
    gatewayEnv: {
      SECURE_CHANNELS: 'true',
      JWT_SECRET: SECRET,
      ROW_AUTHORIZATION: 'off',
      MAX_BROADCAST_BYTES: String(MAX_BROADCAST_BYTES),
      MAX_REST_BODY_BYTES: String(MAX_REST_BODY_BYTES),
    },
  }));
  limited = stack.gatewayPorts.length;
  stack.gatewayPorts.push(await freePort());
  await stack.startGateway(limited, { MAX_REST_BROADCASTS_PER_SECOND: '3' });
}, 120_000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((close) => close()));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
}, 30_000);

const base = (gateway = 0): string => `http://127.0.0.1:${stack.gatewayPorts[gateway]}`;

interface Received {
  type: string;
  event: string;
  payload: unknown;
  meta?: unknown;
}

/** A realtime-js client of `vsn` on gateway 1, subscribed to broadcasts on public `topic`. */
async function receiver(topic: string, vsn: Vsn = '2.0.0', gateway = 1): Promise<Received[]> {
  const client = new RealtimeClient(`ws://127.0.0.1:${stack.gatewayPorts[gateway]}/realtime/v1`, {
    params: { apikey: ANON_KEY },
    transport: Transport,
    vsn,
  });
  client.connect();
  open.push(() => disconnect(client));
  const got: Received[] = [];
  let isSubscribed = false;
  client
    .channel(topic)
    .on('broadcast', { event: '*' }, (p: Received) => got.push(p))
    .subscribe((status) => {
      if (status === 'SUBSCRIBED') isSubscribed = true;
    });
  await waitFor(() => isSubscribed, { timeoutMs: 10_000, message: `${topic} subscribed` });
  return got;
}

const arrived = (got: Received[], event: string): Promise<Received> =>
  waitFor(() => got.find((m) => m.event === event), { timeoutMs: 10_000, message: `event ${event}` });

async function post(
  path: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
  gateway = 0,
): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`${base(gateway)}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ANON_KEY}`, 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

const batch = (messages: unknown[], gateway = 0, headers: Record<string, string> = {}) =>
  post('/api/broadcast', JSON.stringify({ messages }), headers, gateway);

/** A public message on `topic` posted now; resolves once the receiver has it. */
async function marker(topic: string, got: Received[]): Promise<void> {
  const event = `marker-${randomUUID()}`;
  expect((await batch([{ topic, event, payload: {} }])).status).toBe(202);
  await arrived(got, event);
}

const topicName = (): string => `room-${randomUUID()}`;

describe('POST /api/broadcast', () => {
  it('answers 202 with an empty body and delivers the client map on another gateway, meta.id included', async () => {
    const topic = topicName();
    const got = await receiver(topic);
    const id = randomUUID();
    const res = await batch([
      { topic, event: 'a', payload: { n: 1 } },
      { topic, event: 'b', payload: { n: 2 }, id },
    ]);
    expect(res).toMatchObject({ status: 202, body: '' });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(await arrived(got, 'a')).toEqual({ type: 'broadcast', event: 'a', payload: { n: 1 } });
    expect(await arrived(got, 'b')).toEqual({
      type: 'broadcast',
      event: 'b',
      payload: { n: 2 },
      meta: { id },
    });
  });

  it('is served under /realtime/v1 too, and takes the token from the apikey header', async () => {
    const topic = topicName();
    const got = await receiver(topic, '1.0.0');
    const res = await post(
      '/realtime/v1/api/broadcast',
      JSON.stringify({ messages: [{ topic, event: 'k', payload: { x: 'y' } }] }),
      { authorization: '', apikey: ANON_KEY },
    );
    expect(res.status).toBe(202);
    expect(await arrived(got, 'k')).toEqual({ type: 'broadcast', event: 'k', payload: { x: 'y' } });
  });

  it.each([
    ['no token', { authorization: '' }],
    ['a bad token', { authorization: 'Bearer not.a.jwt' }],
    [
      'a token signed with another secret',
      { authorization: `Bearer ${signHs256({ role: 'anon' }, 'x'.repeat(40))}` },
    ],
  ])('answers 401 {"message":"Unauthorized"} to %s', async (_name, headers) => {
    const res = await batch([{ topic: 't', event: 'e', payload: {} }], 0, headers);
    expect(res).toMatchObject({ status: 401, body: '{"message":"Unauthorized"}' });
  });

  it('answers 422 with changeset errors: a missing event, a payload that is not an object, one too large', async () => {
    const res = await batch([
      { topic: 't', payload: {} },
      { topic: 't', event: 'e', payload: 'text' },
      { topic: 't', event: 'e', payload: { big: 'x'.repeat(MAX_BROADCAST_BYTES) } },
      { topic: 't', event: 'e', payload: {} },
    ]);
    expect(res.status).toBe(422);
    expect(JSON.parse(res.body)).toEqual({
      errors: {
        messages: [
          { event: ["can't be blank"] },
          { payload: ['is invalid'] },
          { payload: ['Payload size exceeds tenant limit'] },
          {},
        ],
      },
    });
  });

  it('answers 400 to JSON that does not parse', async () => {
    expect((await post('/api/broadcast', '{"messages":[')).status).toBe(400);
  });

  it('drops private messages (no write permission can be granted yet) and still answers 202', async () => {
    const topic = topicName();
    const got = await receiver(topic);
    const before = await droppedUnauthorized(0);
    const res = await batch([{ topic, event: 'secret', payload: {}, private: true }]);
    expect(res).toMatchObject({ status: 202, body: '' });
    await marker(topic, got);
    expect(got.map((m) => m.event)).not.toContain('secret');
    expect(await droppedUnauthorized(0)).toBe(before + 1);
  });
});

describe('POST /api/broadcast/:topic/events/:event', () => {
  it('delivers a JSON object; channel.httpSend() of supabase-js resolves', async () => {
    const topic = topicName();
    const got = await receiver(topic);
    const supabase = createClient(base(0), ANON_KEY, { realtime: { transport: Transport } });
    open.push(() => disconnect(supabase.realtime));
    const channel = supabase.channel(topic);
    await expect(channel.httpSend('hello', { who: 'rest' })).resolves.toEqual({ success: true });
    expect(await arrived(got, 'hello')).toEqual({
      type: 'broadcast',
      event: 'hello',
      payload: { who: 'rest' },
    });
  });

  it('is where channel.send() before subscribe falls back to (the batch endpoint)', async () => {
    const topic = topicName();
    const got = await receiver(topic);
    const supabase = createClient(base(0), ANON_KEY, { realtime: { transport: Transport } });
    open.push(() => disconnect(supabase.realtime));
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const result = await supabase
        .channel(topic)
        .send({ type: 'broadcast', event: 'fb', payload: { v: 1 } });
      expect(result).toBe('ok');
    } finally {
      warn.mockRestore();
    }
    expect(await arrived(got, 'fb')).toEqual({ type: 'broadcast', event: 'fb', payload: { v: 1 } });
  });

  it('delivers octet-stream bytes as binary kind 4 to vsn 2.0.0 and nothing to vsn 1.0.0', async () => {
    const topic = topicName();
    const v2 = await receiver(topic, '2.0.0');
    const v1 = await receiver(topic, '1.0.0');
    const bytes = new Uint8Array([0, 1, 2, 250, 255]);
    const res = await post(`/api/broadcast/${encodeURIComponent(topic)}/events/bin`, bytes, {
      'content-type': 'application/octet-stream',
    });
    expect(res.status).toBe(202);
    const got = await arrived(v2, 'bin');
    expect(Object.prototype.toString.call(got.payload)).toBe('[object ArrayBuffer]');
    expect([...new Uint8Array(got.payload as ArrayBuffer)]).toEqual([...bytes]);
    await marker(topic, v1);
    expect(v1.map((m) => m.event)).not.toContain('bin');
  });

  it('answers 415 to another content type, 422 to a payload that is not an object or too large', async () => {
    const path = '/api/broadcast/room/events/e';
    const plain = await post(path, 'hi', { 'content-type': 'text/plain' });
    expect(plain.status).toBe(415);
    expect(JSON.parse(plain.body)).toEqual({
      error: 'Unsupported Media Type. Use application/json or application/octet-stream',
    });
    expect(await post(path, '[1,2]')).toMatchObject({
      status: 422,
      body: '{"errors":{"payload":["is invalid"]}}',
    });
    const big = await post(path, new Uint8Array(MAX_BROADCAST_BYTES + 1), {
      'content-type': 'application/octet-stream',
    });
    expect(big).toMatchObject({
      status: 422,
      body: '{"errors":{"payload":["Payload size exceeds tenant limit"]}}',
    });
  });

  it('answers 401 without a token and 403 to a private message it cannot authorize', async () => {
    expect((await post('/api/broadcast/room/events/e', '{}', { authorization: '' })).status).toBe(401);
    const res = await post('/api/broadcast/room/events/e?private=true', '{}');
    expect(res).toMatchObject({ status: 403, body: '{"message":"Unauthorized"}' });
  });
});

describe('limits', () => {
  it('answers 429 past MAX_REST_BROADCASTS_PER_SECOND with both reference messages', async () => {
    const one = { topic: 'r', event: 'e', payload: {} };
    const tooBig = await batch([one, one, one, one], limited);
    expect(tooBig).toMatchObject({
      status: 429,
      body: '{"message":"Too many messages to broadcast, please reduce the batch size"}',
    });
    expect((await batch([one, one, one], limited)).status).toBe(202);
    const over = await batch([one], limited);
    expect(over).toMatchObject({ status: 429, body: '{"message":"You have exceeded your rate limit"}' });
  });

  it('refuses a body over MAX_REST_BODY_BYTES with 413, declared or streamed, and keeps serving', async () => {
    const declared = await post('/api/broadcast', 'x'.repeat(MAX_REST_BODY_BYTES + 1));
    expect(declared.status).toBe(413);
    // Chunked: refused once the bound is passed and the connection closed, often before this client
    // has finished writing (then it sees the reset, not the 413).
    expect([0, 413]).toContain(await streamChunked('/api/broadcast', MAX_REST_BODY_BYTES * 4));
    expect((await fetch(`${base(0)}/healthz`)).status).toBe(200);
    const topic = topicName();
    const got = await receiver(topic);
    await marker(topic, got);
  });

  it('refuses JSON nested deeper than MAX_FRAME_DEPTH with 400', async () => {
    const deep = `{"messages":[{"topic":"t","event":"e","payload":${'['.repeat(200)}${']'.repeat(200)}}]}`;
    expect((await post('/api/broadcast', deep)).status).toBe(400);
  });
});

describe('CORS', () => {
  it.each(['/api/broadcast', '/realtime/v1/api/broadcast/room/events/e'])(
    'answers the preflight of %s',
    async (path) => {
      const res = await fetch(`${base(0)}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin: 'https://app.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, apikey, content-type, x-client-info',
        },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-allow-methods')).toContain('POST');
      const allowed = (res.headers.get('access-control-allow-headers') ?? '').split(/,\s*/);
      expect(allowed).toEqual(
        expect.arrayContaining(['authorization', 'apikey', 'content-type', 'x-client-info']),
      );
    },
  );
});

/** `walcast_gateway_broadcasts_dropped_total{reason="unauthorized"}` of a gateway. */
async function droppedUnauthorized(gateway: number): Promise<number> {
  const text = await (await fetch(`${base(gateway)}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('walcast_gateway_broadcasts_dropped_total{reason="unauthorized"}'));
  return Number(line?.split(' ')[1] ?? NaN);
}

/** POSTs `bytes` of body in chunks with no Content-Length; the status, or 0 if the connection was cut first. */
function streamChunked(path: string, bytes: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(`${base(0)}${path}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ANON_KEY}`,
        'content-type': 'application/json',
        'transfer-encoding': 'chunked',
      },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}
