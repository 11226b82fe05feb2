// Helpers shared by the gateway's integration tests. Not a test file itself.
//
// ioredis and ws are dependencies of @walcast/test-utils, not of the gateway, so they are loaded
// from test-utils' install and typed here with the few methods the tests use.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';

import {
  PhoenixTestClient,
  type WalcastStack,
  freePort,
  sql,
  startStackWithSchema,
  type Backends,
  type PhoenixConnectOptions,
  type PhoenixFrame,
} from '@walcast/test-utils';

const requireFromTestUtils = createRequire(resolve(__dirname, '../../../packages/test-utils/package.json'));

/** The part of ioredis's client the tests use. */
export interface RedisClient {
  call(command: string, ...args: string[]): Promise<unknown>;
  on(event: 'error', listener: (err: Error) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}
type RedisConstructor = new (url: string, options?: Record<string, unknown>) => RedisClient;

/** The part of the `ws` WebSocket the tests use. */
export interface RawWebSocket {
  on(event: 'open', listener: () => void): unknown;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): unknown;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  send(data: string): void;
  close(): void;
  terminate(): void;
}
type WebSocketConstructor = new (url: string) => RawWebSocket;

export const { Redis } = requireFromTestUtils('ioredis') as { Redis: RedisConstructor };
export const RawWebSocket = requireFromTestUtils('ws') as WebSocketConstructor;

/** A Redis connection for inspecting pub/sub state (PUBSUB NUMSUB / NUMPAT). */
export function redisClient(url: string): RedisClient {
  const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on('error', () => undefined);
  return client;
}

/** `PUBSUB NUMSUB <channel>`: how many connections are subscribed to the channel. */
export async function numsub(redis: RedisClient, channel: string): Promise<number> {
  const reply = (await redis.call('PUBSUB', 'NUMSUB', channel)) as [string, number | string];
  return Number(reply[1]);
}

/** `PUBSUB NUMPAT`: how many pattern subscriptions exist in total. */
export async function numpat(redis: RedisClient): Promise<number> {
  return Number(await redis.call('PUBSUB', 'NUMPAT'));
}

/** Resolves after `ms`; only where time is the test's input (heartbeat pacing), never to synchronise. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** HTTP GET on a gateway; the status and the body text. */
export async function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
  return { status: res.status, body: await res.text() };
}

/**
 * What every gateway test file starts from: PostgreSQL and Redis, a `public.users (id, name)` table
 * in a `supabase_realtime` publication for all tables, and the built services (`opts` as for
 * WalcastStack.start).
 */
export async function startUsersStack(
  opts: Parameters<typeof WalcastStack.start>[1],
): Promise<{ backends: Backends; stack: WalcastStack }> {
  return startStackWithSchema(
    [
      'create table public.users (id int primary key, name text)',
      'create publication supabase_realtime for all tables',
    ],
    opts,
  );
}

/** Closes the clients, stops the services, then the backends (any may be undefined after a failed start). */
export async function stopUsersStack(
  pool: ClientPool,
  stack: WalcastStack | undefined,
  backends: Backends | undefined,
): Promise<void> {
  await pool.closeAll();
  await stack?.stop();
  await backends?.stop();
}

/** Adds a gateway on a fresh port to `stack` (with extra env) and returns its index. */
export async function addGateway(stack: WalcastStack, env: Record<string, string>): Promise<number> {
  const index = stack.gatewayPorts.length;
  stack.gatewayPorts.push(await freePort());
  await stack.startGateway(index, env);
  return index;
}

/** Opens clients and closes all of them in afterEach/afterAll. */
export class ClientPool {
  private readonly clients: PhoenixTestClient[] = [];

  constructor(private readonly stack: () => WalcastStack) {}

  async open(
    opts: PhoenixConnectOptions & { gateway?: number; path?: string } = {},
  ): Promise<PhoenixTestClient> {
    const { gateway = 0, path = '/socket/websocket', ...connect } = opts;
    const client = await PhoenixTestClient.connect(
      `ws://127.0.0.1:${this.stack().gatewayPorts[gateway]}${path}`,
      connect,
    );
    this.clients.push(client);
    return client;
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.terminate()));
  }
}

let nextId = 1000;

/** Inserts a `public.users` row with a fresh id and returns the id. */
export async function insertUser(pgUrl: string, name = 'u'): Promise<number> {
  const id = nextId++;
  await sql(pgUrl, `insert into public.users (id, name) values (${id}, '${name}')`);
  return id;
}

/** A legacy change frame for `topic` whose record has `id`. */
export function isChangeFor(topic: string, type: string, id: number): (f: PhoenixFrame) => boolean {
  return (f) =>
    f.topic === topic &&
    f.event === type &&
    (f.payload as { record?: { id?: unknown } } | null)?.record?.id === id;
}

/** A `phx_reply` with status error whose reason starts with `prefix`. */
export function isErrorReply(prefix: string, topic?: string): (f: PhoenixFrame) => boolean {
  return (f) =>
    f.event === 'phx_reply' &&
    (topic === undefined || f.topic === topic) &&
    f.payload?.status === 'error' &&
    typeof f.payload?.response?.reason === 'string' &&
    (f.payload.response.reason as string).startsWith(prefix);
}

/**
 * "Nothing else arrives" checks wait for a marker, a frame that must arrive after anything they
 * rule out, instead of a fixed time: a socket's frames keep their order. A marker resolves once its
 * frame is in.
 */
export type Marker = () => Promise<unknown>;

/** The reply to a heartbeat sent now: a socket's pushes are handled in order (token checks included). */
export const heartbeatMarker =
  (client: PhoenixTestClient): Marker =>
  () =>
    client.heartbeat();

/**
 * Joins `realtime:public:users:id=eq.<fresh id>` on `client`; the marker inserts that row and waits
 * for its change. Changes reach a socket in commit order, so every change committed before the
 * marker's has arrived (or never will) once it is in.
 */
export async function joinChangeMarker(client: PhoenixTestClient, pgUrl: string): Promise<Marker> {
  const id = nextId++;
  const topic = `realtime:public:users:id=eq.${id}`;
  const reply = await client.join(topic);
  if (reply.payload?.status !== 'ok') throw new Error(`marker join refused: ${String(reply.raw)}`);
  return async () => {
    await sql(pgUrl, `insert into public.users (id, name) values (${id}, 'marker')`);
    await client.next(isChangeFor(topic, 'INSERT', id));
  };
}

/** Asserts that no frame matching `predicate` has arrived once `marker` (default: a heartbeat) has. */
export async function expectNoFrame(
  client: PhoenixTestClient,
  predicate: (f: PhoenixFrame) => boolean,
  marker: Marker = heartbeatMarker(client),
): Promise<void> {
  await marker();
  const unexpected = client.frames.filter(predicate);
  if (unexpected.length > 0) {
    throw new Error(`unexpected frames: ${unexpected.map((f) => String(f.raw).slice(0, 300)).join('\n')}`);
  }
}

/** Asserts that nothing arrives before the reply to a heartbeat sent now. */
export async function expectSilence(client: PhoenixTestClient): Promise<void> {
  const before = client.frames.length;
  const reply = await client.heartbeat();
  const extra = client.frames.slice(before).filter((f) => f !== reply);
  if (extra.length > 0) {
    throw new Error(`expected no frames, got: ${extra.map((f) => String(f.raw).slice(0, 300)).join('\n')}`);
  }
}

/** A frame a {@link RawTcpWebSocket} received. */
export type RawServerFrame =
  | { kind: 'text'; text: string }
  | { kind: 'close'; code: number }
  | { kind: 'other'; opcode: number };

/**
 * A websocket client written over a bare TCP socket, for what `ws` cannot do: several frames in
 * one TCP write (so the server handles them in one read, with no event-loop turn in between), and
 * a client that stops reading altogether.
 */
export class RawTcpWebSocket {
  readonly frames: RawServerFrame[] = [];
  private buffer = Buffer.alloc(0);

  private constructor(readonly socket: Socket) {}

  static async open(port: number, path = '/socket/websocket?vsn=1.0.0'): Promise<RawTcpWebSocket> {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await new Promise<void>((ok, fail) => {
      socket.once('connect', ok);
      socket.once('error', fail);
    });
    socket.on('error', () => undefined);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    const client = new RawTcpWebSocket(socket);
    let head = Buffer.alloc(0);
    await new Promise<void>((ok, fail) => {
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.off('close', onClose);
        const status = head.subarray(0, end).toString('latin1').split('\r\n')[0] ?? '';
        if (!status.startsWith('HTTP/1.1 101')) {
          fail(new Error(`upgrade refused: ${status}`));
          return;
        }
        client.receive(head.subarray(end + 4));
        socket.on('data', (data: Buffer) => client.receive(data));
        ok();
      };
      const onClose = (): void => fail(new Error('closed during the handshake'));
      socket.on('data', onData);
      socket.once('close', onClose);
    });
    return client;
  }

  /** Sends every text as its own masked text frame, all in one TCP write. */
  sendTexts(...texts: string[]): void {
    this.socket.write(Buffer.concat(texts.map((t) => maskedTextFrame(Buffer.from(t, 'utf8')))));
  }

  /** Texts of the text frames received so far, JSON-parsed. */
  json(): unknown[] {
    return this.frames.flatMap((f) => (f.kind === 'text' ? [JSON.parse(f.text) as unknown] : []));
  }

  destroy(): void {
    this.socket.destroy();
  }

  private receive(data: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, data]);
    for (;;) {
      if (this.buffer.length < 2) return;
      const opcode = this.buffer[0]! & 0x0f;
      let length = this.buffer[1]! & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (this.buffer.length < 4) return;
        length = this.buffer.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (this.buffer.length < 10) return;
        length = Number(this.buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (this.buffer.length < offset + length) return;
      const payload = this.buffer.subarray(offset, offset + length);
      this.buffer = this.buffer.subarray(offset + length);
      if (opcode === 1) this.frames.push({ kind: 'text', text: payload.toString('utf8') });
      else if (opcode === 8)
        this.frames.push({ kind: 'close', code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005 });
      else this.frames.push({ kind: 'other', opcode });
    }
  }
}

function maskedTextFrame(payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const header =
    payload.length < 126
      ? Buffer.from([0x81, 0x80 | payload.length])
      : payload.length < 65536
        ? Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff])
        : (() => {
            const h = Buffer.alloc(10);
            h[0] = 0x81;
            h[1] = 0x80 | 127;
            h.writeBigUInt64BE(BigInt(payload.length), 2);
            return h;
          })();
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([header, mask, body]);
}
