import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { RespPublisher, type RespPublisherStatus } from './resp-publisher';

/**
 * A fake Redis speaking enough RESP2: it parses arrays of bulk strings, records each command, and
 * answers with `reply(command)` (by default `:1` for PUBLISH, `+OK`, `+PONG`). `hold` stops replies.
 */
class FakeRedis {
  readonly commands: string[][] = [];
  readonly sockets: Socket[] = [];
  hold = false;
  reply: (cmd: string[]) => string = (cmd) =>
    cmd[0] === 'PUBLISH' ? ':1\r\n' : cmd[0] === 'PING' ? '+PONG\r\n' : '+OK\r\n';
  private readonly held: Array<{ socket: Socket; text: string }> = [];
  private server: Server | null = null;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  /** Sends every held reply. */
  release(): void {
    this.hold = false;
    for (const { socket, text } of this.held.splice(0)) socket.write(text);
  }

  dropConnections(): void {
    for (const s of this.sockets.splice(0)) s.destroy();
  }

  published(): string[][] {
    return this.commands.filter((c) => c[0] === 'PUBLISH').map((c) => c.slice(1));
  }

  private accept(socket: Socket): void {
    this.sockets.push(socket);
    let pending = Buffer.alloc(0);
    socket.on('error', () => undefined);
    socket.on('data', (data: Buffer) => {
      pending = Buffer.concat([pending, data]);
      for (;;) {
        const parsed = parseCommand(pending);
        if (!parsed) break;
        pending = pending.subarray(parsed.length);
        this.commands.push(parsed.args);
        const text = this.reply(parsed.args);
        if (this.hold) this.held.push({ socket, text });
        else socket.write(text);
      }
    });
  }
}

function parseCommand(buf: Buffer): { args: string[]; length: number } | null {
  let pos = 0;
  const line = (): string | null => {
    const end = buf.indexOf('\r\n', pos);
    if (end < 0) return null;
    const text = buf.subarray(pos, end).toString();
    pos = end + 2;
    return text;
  };
  const head = line();
  if (head === null) return null;
  const count = Number(head.slice(1));
  const args: string[] = [];
  for (let i = 0; i < count; i++) {
    const len = line();
    if (len === null) return null;
    const n = Number(len.slice(1));
    if (buf.length < pos + n + 2) return null;
    args.push(buf.subarray(pos, pos + n).toString());
    pos += n + 2;
  }
  return { args, length: pos };
}

async function until(check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let redis: FakeRedis;
let publisher: RespPublisher | null = null;
let statuses: RespPublisherStatus[];
let errors: Error[];

function open(url = `redis://127.0.0.1:${redis.port}`, name?: string): RespPublisher {
  statuses = [];
  errors = [];
  publisher = new RespPublisher({
    url,
    ...(name ? { name } : {}),
    retryDelayMs: () => 20,
    onStatus: (s) => statuses.push(s),
    onError: (e) => errors.push(e),
  });
  return publisher;
}

beforeEach(async () => {
  redis = new FakeRedis();
  await redis.start();
});

afterEach(async () => {
  publisher?.close();
  publisher = null;
  await redis.stop();
});

describe('RespPublisher', () => {
  it('publishes topic and message byte for byte and resolves each in order', async () => {
    const p = open();
    const done: number[] = [];
    const messages = ['{"a":1}', 'ünïcödé ✓ 𝄞', '', 'line\nbreak\r\n'];
    await Promise.all(messages.map((m, i) => p.publish(`t:${i}`, m).then(() => done.push(i))));
    expect(redis.published()).toEqual(messages.map((m, i) => [`t:${i}`, m]));
    expect(done).toEqual([0, 1, 2, 3]);
    expect(statuses).toEqual(['ready']);
  });

  it('sends AUTH (user and password from the URL) and CLIENT SETNAME before anything else', async () => {
    const p = open(`redis://user:p%40ss@127.0.0.1:${redis.port}`, 'walcast-ingester:x:pub');
    await p.publish('t', 'm');
    expect(redis.commands).toEqual([
      ['AUTH', 'user', 'p@ss'],
      ['CLIENT', 'SETNAME', 'walcast-ingester:x:pub'],
      ['PUBLISH', 't', 'm'],
    ]);
  });

  it('rejects only the publish Redis answered with an error', async () => {
    redis.reply = (cmd) => (cmd[2] === 'bad' ? '-ERR nope\r\n' : ':0\r\n');
    const p = open();
    const results = await Promise.allSettled([
      p.publish('t', 'a'),
      p.publish('t', 'bad'),
      p.publish('t', 'c'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toContain('ERR nope');
  });

  it('coalesces the publishes of one turn into few writes', async () => {
    const p = open();
    await p.ping();
    const reads: number[] = [];
    redis.sockets[0]!.on('data', (d: Buffer) => reads.push(d.length));
    await Promise.all(Array.from({ length: 1000 }, (_, i) => p.publish('t', `message ${i}`)));
    expect(redis.published()).toHaveLength(1000);
    expect(reads.length).toBeLessThan(10);
  });

  it('holds small publishes back while a write is unanswered and sends them with its reply', async () => {
    const p = open();
    await p.ping();
    redis.hold = true;
    const first = p.publish('t', 'first');
    await until(() => redis.published().length === 1);
    const later = [p.publish('t', 'a'), p.publish('t', 'b')];
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(redis.published()).toHaveLength(1); // held back: 'first' is unanswered
    redis.release();
    await Promise.all([first, ...later]);
    expect(redis.published().map((c) => c[1])).toEqual(['first', 'a', 'b']);
  });

  it('does not hold back more than a bounded amount', async () => {
    const p = open();
    await p.ping();
    redis.hold = true;
    const all = [p.publish('t', 'first')];
    await until(() => redis.published().length === 1);
    const big = 'x'.repeat(10_000);
    for (let i = 0; i < 20; i++) all.push(p.publish('t', big));
    await until(() => redis.published().length === 21);
    redis.release();
    await Promise.all(all);
  });

  it('queues publishes until connected', async () => {
    const port = redis.port;
    await redis.stop();
    const p = open(`redis://127.0.0.1:${port}`);
    const published = p.publish('t', 'early');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(p.status).not.toBe('ready');
    redis = new FakeRedis();
    await redis.start(port);
    await published;
    expect(redis.published()).toEqual([['t', 'early']]);
    expect(p.pendingCount).toBe(0);
  });

  it('after a lost connection, writes again exactly the publishes Redis had not answered', async () => {
    const p = open();
    await p.publish('t', 'answered');
    redis.hold = true;
    const unanswered = [p.publish('t', 'u1'), p.publish('t', 'u2')];
    await until(() => redis.published().length === 3);
    redis.dropConnections();
    redis.hold = false;
    await Promise.all(unanswered);
    const later = p.publish('t', 'after');
    await later;
    expect(redis.published().map((c) => c[1])).toEqual(['answered', 'u1', 'u2', 'u1', 'u2', 'after']);
    expect(statuses).toEqual(['ready', 'reconnecting', 'ready']);
  });

  it('resends from the first unanswered command of a partly answered write', async () => {
    redis.hold = true;
    const p = open(undefined, 'n');
    const all = ['a', 'b', 'c'].map((m) => p.publish('t', m));
    await until(() => redis.published().length === 3);
    // answer CLIENT SETNAME and the first publish only, then drop the connection
    const socket = redis.sockets[0]!;
    socket.write('+OK\r\n:1\r\n');
    await all[0];
    redis.dropConnections();
    redis.release();
    redis.hold = false;
    await Promise.all(all);
    expect(redis.published().map((c) => c[1])).toEqual(['a', 'b', 'c', 'b', 'c']);
    expect(redis.commands.filter((c) => c[0] === 'CLIENT')).toHaveLength(2);
  });

  it('reports a refused set-up command and retries', async () => {
    redis.reply = (cmd) => (cmd[0] === 'AUTH' ? '-WRONGPASS invalid password\r\n' : ':1\r\n');
    const p = open(`redis://:secret@127.0.0.1:${redis.port}`);
    const published = p.publish('t', 'm');
    await until(() => errors.some((e) => e.message.includes('WRONGPASS')));
    redis.reply = (cmd) => (cmd[0] === 'PUBLISH' ? ':1\r\n' : '+OK\r\n');
    await published;
    expect(redis.published().length).toBeGreaterThanOrEqual(1);
  });

  it('rejects what is pending when closed, and anything published afterwards', async () => {
    redis.hold = true;
    const p = open();
    const pending = p.publish('t', 'm');
    await until(() => redis.published().length === 1);
    p.close();
    await expect(pending).rejects.toThrow('closed');
    await expect(p.publish('t', 'n')).rejects.toThrow('closed');
    expect(p.status).toBe('closed');
  });
});
