import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Redis from 'ioredis';
import { Client } from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';

import {
  freePort,
  PhoenixTestClient,
  spawnService,
  startBackends,
  waitFor,
  WebSocketUpgradeError,
  type Backends,
} from '../src/index';

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startBackends (local strategy)', () => {
  let backends: Backends;

  beforeAll(async () => {
    backends = await startBackends({ strategy: 'local', pgSettings: { max_connections: 50 } });
  });
  afterAll(async () => {
    await backends?.stop();
  });

  async function sql(text: string): Promise<unknown[]> {
    const client = new Client({ connectionString: backends.pg.url });
    await client.connect();
    try {
      return (await client.query(text)).rows;
    } finally {
      await client.end();
    }
  }

  it('provides a logical-replication PostgreSQL and a Redis', async () => {
    expect(backends.strategy).toBe('local');
    expect(await sql('SHOW wal_level')).toEqual([{ wal_level: 'logical' }]);
    expect(await sql('SHOW max_connections')).toEqual([{ max_connections: '50' }]);
    const redis = new Redis(backends.redis.url);
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
  });

  it('survives pg.kill() + pg.start() and redis.restart() with unchanged urls', async () => {
    const { url } = backends.pg;
    await sql('CREATE TABLE t (v int)');
    await sql('INSERT INTO t VALUES (42)');
    await backends.pg.kill();
    expect(await canConnect(backends.pg.port)).toBe(false);
    await backends.pg.start();
    expect(backends.pg.url).toBe(url);
    expect(await sql('SELECT v FROM t')).toEqual([{ v: 42 }]);

    await backends.redis.restart();
    const redis = new Redis(backends.redis.url);
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
  });

  it('rejects an unknown WALCAST_TEST_BACKEND instead of guessing', async () => {
    const saved = process.env['WALCAST_TEST_BACKEND'];
    process.env['WALCAST_TEST_BACKEND'] = 'docker';
    try {
      await expect(startBackends()).rejects.toThrow(/WALCAST_TEST_BACKEND=docker is not one of/);
    } finally {
      if (saved === undefined) delete process.env['WALCAST_TEST_BACKEND'];
      else process.env['WALCAST_TEST_BACKEND'] = saved;
    }
  });

  it('keeps Redis data across a restart, and a kill, only with redisAppendOnly', async () => {
    const persisted = await startBackends({ strategy: 'local', redisAppendOnly: true });
    try {
      const keep = async (): Promise<string | null> => {
        const redis = new Redis(persisted.redis.url);
        try {
          return await redis.get('kept');
        } finally {
          redis.disconnect();
        }
      };
      const writer = new Redis(persisted.redis.url);
      await writer.set('kept', 'yes');
      writer.disconnect();
      await persisted.redis.restart();
      expect(await keep()).toBe('yes');
      await persisted.redis.kill();
      await persisted.redis.start();
      expect(await keep()).toBe('yes');
    } finally {
      await persisted.stop();
    }
    const plain = new Redis(backends.redis.url);
    await plain.set('gone', 'yes');
    plain.disconnect();
    await backends.redis.restart();
    const after = new Redis(backends.redis.url);
    expect(await after.get('gone')).toBeNull();
    after.disconnect();
  });

  it('stop() takes both servers down', async () => {
    const other = await startBackends({ strategy: 'local' });
    await other.stop();
    expect(await canConnect(other.pg.port)).toBe(false);
    expect(await canConnect(other.redis.port)).toBe(false);
  });
});

/**
 * A minimal Phoenix endpoint: replies `ok` to every message, in the encoding of the `vsn` query
 * parameter, and records what it received. `reject` refuses upgrades with HTTP 403.
 */
async function phoenixServer(): Promise<{
  url: string;
  received: unknown[];
  sockets: WebSocket[];
  close(): Promise<void>;
}> {
  const received: unknown[] = [];
  const sockets: WebSocket[] = [];
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    verifyClient: (info, done) =>
      info.req.url?.includes('reject=1') ? done(false, 403, 'Forbidden') : done(true),
  });
  wss.on('connection', (ws, req) => {
    sockets.push(ws);
    const isV2 = new URL(req.url ?? '/', 'http://x').searchParams.get('vsn') === '2.0.0';
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const msg: unknown = JSON.parse(data.toString());
      received.push(msg);
      const [joinRef, ref, topic, event] = Array.isArray(msg)
        ? (msg as [string | null, string | null, string, string])
        : [
            (msg as { join_ref: string | null }).join_ref,
            (msg as { ref: string | null }).ref,
            (msg as { topic: string }).topic,
            (msg as { event: string }).event,
          ];
      const payload = { status: 'ok', response: { echoed: event } };
      const reply = isV2
        ? [joinRef, ref, topic, 'phx_reply', payload]
        : { topic, event: 'phx_reply', payload, ref, join_ref: joinRef };
      if (event === 'phx_join')
        ws.send(
          JSON.stringify(
            isV2
              ? [joinRef, null, topic, 'presence_state', {}]
              : { topic, event: 'presence_state', payload: {}, ref: null },
          ),
        );
      ws.send(JSON.stringify(reply));
    });
  });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/realtime/v1/websocket?apikey=x`,
    received,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of sockets) ws.terminate();
        wss.close(() => resolve());
      }),
  };
}

describe('PhoenixTestClient', () => {
  let server: Awaited<ReturnType<typeof phoenixServer>>;
  beforeEach(async () => {
    server = await phoenixServer();
  });
  afterEach(async () => {
    await server.close();
  });

  it('speaks V1: object frames with join_ref, decoded replies, refs that increase', async () => {
    const client = await PhoenixTestClient.connect(server.url, { vsn: '1.0.0' });
    const reply = await client.join('realtime:room', { config: {} });
    expect(reply).toMatchObject({
      topic: 'realtime:room',
      event: 'phx_reply',
      ref: '1',
      joinRef: '1',
      payload: { status: 'ok', response: { echoed: 'phx_join' } },
      binary: false,
    });
    expect(server.received[0]).toEqual({
      topic: 'realtime:room',
      event: 'phx_join',
      payload: { config: {} },
      ref: '1',
      join_ref: '1',
    });
    const push = await client.next((f) => f.event === 'presence_state');
    expect(push.joinRef).toBeNull(); // V1 frame without join_ref
    const ref = client.send({ topic: 'realtime:room', event: 'broadcast', payload: { x: 1 } });
    expect(ref).toBe('2');
    expect(server.received).toHaveLength(1); // not yet processed
    await client.next((f) => f.ref === '2');
    expect(server.received[1]).toMatchObject({ ref: '2', join_ref: '1', event: 'broadcast' });
    await client.close();
  });

  it('speaks V2: array frames [join_ref, ref, topic, event, payload]', async () => {
    const client = await PhoenixTestClient.connect(server.url, { vsn: '2.0.0' });
    expect(client.vsn).toBe('2.0.0');
    const reply = await client.join('realtime:v2');
    expect(reply).toMatchObject({ joinRef: '1', ref: '1', topic: 'realtime:v2', event: 'phx_reply' });
    expect(server.received[0]).toEqual(['1', '1', 'realtime:v2', 'phx_join', {}]);
    expect(await client.heartbeat()).toMatchObject({ topic: 'phoenix', ref: '2', payload: { status: 'ok' } });
    expect(server.received[1]).toEqual([null, '2', 'phoenix', 'heartbeat', {}]);
    expect(await client.leave('realtime:v2')).toMatchObject({
      ref: '3',
      payload: { response: { echoed: 'phx_leave' } },
    });
    expect(client.framesFor('realtime:v2').map((f) => f.event)).toEqual([
      'presence_state',
      'phx_reply',
      'phx_reply',
    ]);
    await client.close();
  });

  it('keeps an explicit vsn in the URL and hands each frame to at most one next()', async () => {
    const client = await PhoenixTestClient.connect(`${server.url}&vsn=2.0.0`);
    expect(client.vsn).toBe('2.0.0');
    client.send({ topic: 'a', event: 'x', payload: {} });
    client.send({ topic: 'a', event: 'y', payload: {} });
    await waitFor(() => client.frames.length === 2, { message: 'two replies' });
    const first = await client.next((f) => f.event === 'phx_reply');
    const second = await client.next((f) => f.event === 'phx_reply');
    expect([first.ref, second.ref]).toEqual(['1', '2']);
    await expect(client.next((f) => f.event === 'phx_reply', 100)).rejects.toThrow(
      /no matching frame within 100 ms/,
    );
    await client.close();
  });

  it('stores binary frames raw and reports the close code and reason', async () => {
    const client = await PhoenixTestClient.connect(server.url);
    await waitFor(() => server.sockets.length === 1);
    server.sockets[0]?.send(Buffer.from([1, 2, 3]));
    const frame = await client.next((f) => f.binary);
    expect(frame.raw).toEqual(Buffer.from([1, 2, 3]));
    const pending = client.next((f) => f.event === 'never', 10_000);
    server.sockets[0]?.close(4001, 'slow consumer');
    await expect(pending).rejects.toThrow(/socket closed \(4001 slow consumer\)/);
    expect(await client.closed).toEqual({ code: 4001, reason: 'slow consumer' });
  });

  it('rejects with the HTTP status when the upgrade is refused', async () => {
    const err = await PhoenixTestClient.connect(`${server.url}&reject=1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WebSocketUpgradeError);
    expect((err as WebSocketUpgradeError).statusCode).toBe(403);
  });
});

describe('waitFor', () => {
  it('resolves with the first truthy value', async () => {
    let calls = 0;
    expect(await waitFor(() => (++calls >= 3 ? { calls } : undefined), { intervalMs: 1 })).toEqual({
      calls: 3,
    });
  });

  it('times out with the message and the last error', async () => {
    const started = Date.now();
    const attempt = waitFor(
      () => {
        throw new Error('still 503');
      },
      { timeoutMs: 150, intervalMs: 20, message: 'gateway ready' },
    );
    await expect(attempt).rejects.toThrow(/timed out after 150 ms: gateway ready; last error: still 503/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(130);
  });
});

describe('spawnService', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'walcast-svc-'));
    writeFileSync(
      join(dir, 'service.js'),
      `
      const http = require('node:http');
      const log = (msg, extra) => console.log(JSON.stringify({ level: 'info', msg, ...extra }));
      log('starting', { envKeys: Object.keys(process.env).sort() });
      console.error('plain stderr line');
      const server = http.createServer((req, res) => res.writeHead(req.url === '/ready' ? 200 : 404).end());
      setTimeout(() => server.listen(Number(process.env.PORT), '127.0.0.1', () => log('listening')), 200);
      process.on('SIGTERM', () => { log('shutting down'); server.close(() => process.exit(0)); });
      `,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('waits for readiness, captures logs and passes exactly the given env', async () => {
    const port = await freePort();
    const svc = await spawnService({
      name: 'svc',
      entry: join(dir, 'service.js'),
      env: { PORT: String(port), WALCAST_X: '1' },
      readyUrl: `http://127.0.0.1:${port}/ready`,
    });
    await svc.waitForReady();
    const starting = await svc.waitForLog((l) => l['msg'] === 'starting');
    expect(starting['envKeys']).toEqual(['HOME', 'PATH', 'PORT', 'WALCAST_X']);
    expect(svc.lines).toContain('plain stderr line');
    expect(svc.logs.map((l) => l['msg'])).toEqual(['starting', 'listening']);
    expect(await svc.stop()).toEqual({ code: 0, signal: null });
    expect(svc.logs.at(-1)).toMatchObject({ msg: 'shutting down' });
  });

  it('kill() ends it with SIGKILL, and waiting on a dead service fails fast with its output', async () => {
    const svc = await spawnService({ name: 'victim', entry: join(dir, 'service.js'), env: { PORT: '1' } });
    await svc.waitForLog((l) => l['msg'] === 'starting');
    expect(await svc.kill()).toEqual({ code: null, signal: 'SIGKILL' });
    const started = Date.now();
    await expect(svc.waitForLog((l) => l['msg'] === 'never', 10_000)).rejects.toThrow(
      /victim: waiting for .* exited/s,
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
