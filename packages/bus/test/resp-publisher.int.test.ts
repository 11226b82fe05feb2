// RespPublisher against a real redis-server (started from the local binary on a free port): what
// arrives is checked with a real subscriber, and what Redis received or executed with Redis's own
// introspection (CLIENT LIST, INFO stats, INFO commandstats). Replies are held back with
// `CLIENT PAUSE <ms> WRITE`, which postpones PUBLISH (but not PING, ACL checks, CLIENT LIST/KILL):
// a postponed client keeps reading into its query buffer (CLIENT LIST `qbuf`) without executing,
// and a client killed while postponed never executes what it had sent.
import Redis from 'ioredis';

import { LocalRedis } from '@walcast/local-services';

import { encodeCommand } from '../src/resp-buffer';
import { RespPublisher, type RespPublisherStatus } from '../src/resp-publisher';

jest.setTimeout(20_000);

const PAUSE_MS = '10000';

let redis: LocalRedis;
let admin: Redis;
let sub: Redis;
/** Messages the subscriber received, as raw bytes, in arrival order. */
let received: Array<{ channel: Buffer; message: Buffer }>;
let opened: RespPublisher[] = [];

interface Opened {
  p: RespPublisher;
  statuses: RespPublisherStatus[];
  errors: Error[];
}

function open(opts: { url?: string; name?: string } = {}): Opened {
  const statuses: RespPublisherStatus[] = [];
  const errors: Error[] = [];
  const p = new RespPublisher({
    url: opts.url ?? redis.url,
    ...(opts.name ? { name: opts.name } : {}),
    retryDelayMs: () => 20,
    onStatus: (s) => statuses.push(s),
    onError: (e) => errors.push(e),
  });
  opened.push(p);
  return { p, statuses, errors };
}

function redisUrl(user: string, password: string): string {
  return `redis://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${redis.host}:${redis.port}`;
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The CLIENT LIST fields of the connection named `name`, if there is one. */
async function client(name: string): Promise<Record<string, string> | undefined> {
  const list = String(await admin.call('CLIENT', 'LIST'));
  for (const line of list.split('\n')) {
    const fields: Record<string, string> = {};
    for (const pair of line.trim().split(' ')) {
      const eq = pair.indexOf('=');
      if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    if (fields.name === name) return fields;
  }
  return undefined;
}

/** Waits until the connection named `name` has a PUBLISH postponed by CLIENT PAUSE (flag `b`). */
async function untilPostponed(name: string): Promise<Record<string, string>> {
  let info: Record<string, string> | undefined;
  await until(async () => {
    info = await client(name);
    return info?.flags?.includes('b') === true;
  });
  return info!;
}

async function infoField(section: string, field: string): Promise<string> {
  const text = await admin.info(section);
  const match = new RegExp(`^${field}:(.*)$`, 'm').exec(text);
  if (!match) throw new Error(`INFO ${section} has no ${field}`);
  return match[1]!.trim();
}

function messagesOn(channel: string): string[] {
  return received.filter((r) => r.channel.toString() === channel).map((r) => r.message.toString());
}

function newClient(): Redis {
  const c = new Redis(redis.port, redis.host, { maxRetriesPerRequest: null });
  c.on('error', () => undefined); // reconnects by itself while Redis is restarted
  return c;
}

beforeAll(async () => {
  redis = await LocalRedis.start();
});

afterAll(async () => {
  await redis?.destroy();
});

beforeEach(async () => {
  admin = newClient();
  sub = newClient();
  received = [];
  sub.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer, message: Buffer) =>
    received.push({ channel, message }),
  );
  await sub.psubscribe('*');
});

afterEach(async () => {
  for (const p of opened) p.close();
  opened = [];
  await redis.start(); // no-op unless a test left it stopped
  await admin.call('CLIENT', 'UNPAUSE');
  await admin.call('ACL', 'DELUSER', 'walcast', 'limited');
  await admin.call('CONFIG', 'SET', 'requirepass', '');
  admin.disconnect();
  sub.disconnect();
});

describe('RespPublisher on a real Redis', () => {
  it('publishes topic and message byte for byte and resolves each in order', async () => {
    const { p, statuses } = open();
    const sent: Array<[string, string]> = [
      ['t:json', '{"a":1,"b":[true,null]}'],
      ['t:ünï', 'ünïcödé ✓ 𝄞 日本語'],
      ['t:empty', ''],
      ['t:lines', 'line\nbreak\r\nand\r\n*3\r\n$7\r\nPUBLISH\r\n'],
      ['t:big', 'é'.repeat(600_000)], // larger than one 1 MiB output chunk
      ['t:json', 'last'],
    ];
    const done: number[] = [];
    await Promise.all(sent.map(([t, m], i) => p.publish(t, m).then(() => done.push(i))));
    expect(done).toEqual([0, 1, 2, 3, 4, 5]);
    await until(() => received.length === sent.length);
    // Compared as base64 of the raw bytes (jest compares large Buffers slowly).
    const bytes = (b: Buffer | string): string => Buffer.from(b).toString('base64');
    expect(received.map((r) => [bytes(r.channel), bytes(r.message)])).toEqual(
      sent.map(([t, m]) => [bytes(t), bytes(m)]),
    );
    expect(statuses).toEqual(['ready']);
    expect(p.pendingCount).toBe(0);
  });

  it('reuses output buffers once answered without changing what later or earlier publishes carried', async () => {
    const { p } = open();
    const sent: string[] = [];
    for (let wave = 0; wave < 6; wave++) {
      // about 3 MiB per wave: several chunks, answered before the next wave reuses their buffers
      const messages = Array.from({ length: 3000 }, (_, i) => `${wave}:${i}:${String(wave * i).repeat(200)}`);
      sent.push(...messages);
      await Promise.all(messages.map((m) => p.publish('reuse', m)));
    }
    await until(() => received.length === sent.length, 20_000);
    expect(received.map((r) => r.message.toString())).toEqual(sent);
  });

  it('authenticates with user and password from the URL and sets the client name', async () => {
    await admin.call('ACL', 'SETUSER', 'walcast', 'on', '>p@ss word', '~*', '&*', '+@all');
    const { p, errors } = open({ url: redisUrl('walcast', 'p@ss word'), name: 'walcast ingester:x:pub' });
    await p.publish('auth:t', 'm');
    const info = await client('walcast_ingester:x:pub'); // whitespace in the name becomes '_'
    expect(info?.user).toBe('walcast');
    await until(() => received.length === 1);
    expect(messagesOn('auth:t')).toEqual(['m']);
    expect(errors).toEqual([]);
  });

  it('reports a refused AUTH and keeps retrying until the credentials work', async () => {
    const name = 'pub-wrongpass';
    const { p, statuses, errors } = open({ url: redisUrl('walcast', 'secret'), name });
    await until(() => errors.filter((e) => e.message.includes('WRONGPASS')).length >= 2);
    expect(statuses).toContain('reconnecting');
    expect(p.status).not.toBe('closed');
    await admin.call('ACL', 'SETUSER', 'walcast', 'on', '>secret', '~*', '&*', '+@all');
    await until(async () => (await client(name))?.user === 'walcast');
    await p.publish('auth:retry', 'after fix');
    await until(() => messagesOn('auth:retry').length === 1);
    expect(p.status).toBe('ready');
  });

  // Publishes wait for AUTH and CLIENT SETNAME to succeed: never rejected with NOAUTH while the
  // password is refused, never run as the default user; retried on the next connection.
  it('retries publishes queued while the password is refused, and reports ready only after AUTH', async () => {
    await admin.call('CONFIG', 'SET', 'requirepass', 'admin-only');
    const { p, errors } = open({ url: redisUrl('walcast', 'secret'), name: 'pub-queued' });
    const outcome = p.publish('auth:queued', 'm').then(
      () => 'resolved',
      (err: Error) => `rejected: ${err.message}`,
    );
    await until(() => errors.some((e) => e.message.includes('WRONGPASS')));
    expect(p.status).not.toBe('ready');
    await admin.call('ACL', 'SETUSER', 'walcast', 'on', '>secret', '~*', '&*', '+@all');
    expect(await outcome).toBe('resolved');
    expect(p.status).toBe('ready');
  });

  it('rejects only the publishes Redis answered with an error', async () => {
    await admin.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', 'resetchannels', '&allowed:*', '+@all');
    const { p, statuses } = open({ url: redisUrl('limited', 'pw') });
    const results = await Promise.allSettled([
      p.publish('allowed:1', 'a'),
      p.publish('forbidden:1', 'b'),
      p.publish('allowed:2', 'c'),
      p.publish('forbidden:2', 'd'),
      p.publish('allowed:1', 'e'),
    ]);
    expect(results.map((r) => r.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect(String((results[1] as PromiseRejectedResult).reason)).toContain('NOPERM');
    await until(() => received.length === 3);
    expect(received.map((r) => r.message.toString())).toEqual(['a', 'c', 'e']);
    expect(statuses).toEqual(['ready']); // the connection was kept
    expect(p.pendingCount).toBe(0);
  });

  it('sends the publishes of one turn in few writes', async () => {
    const { p } = open();
    await p.ping();
    // Redis counts every read(2) of a client socket. 1000 PUBLISHes (about 36 KB) in one write are
    // read in 16 KiB pieces: 3 reads, plus 1 for the INFO below. Written one per PUBLISH, the same
    // run took 230-250 reads on a development machine.
    const before = Number(await infoField('stats', 'total_reads_processed'));
    await Promise.all(Array.from({ length: 1000 }, (_, i) => p.publish('many', `message ${i}`)));
    const reads = Number(await infoField('stats', 'total_reads_processed')) - before;
    expect(reads).toBeLessThan(10);
    await until(() => received.length === 1000);
    expect(messagesOn('many')[999]).toBe('message 999');
  });

  it('holds small publishes back while a write is unanswered and sends them with its reply', async () => {
    const name = 'pub-hold';
    const { p } = open({ name });
    await p.ping();
    await admin.call('CLIENT', 'PAUSE', PAUSE_MS, 'WRITE');
    const first = p.publish('hold', 'first');
    await untilPostponed(name);
    const later = [p.publish('hold', 'a'), p.publish('hold', 'b')];
    await sleep(50);
    expect((await client(name))?.qbuf).toBe('0'); // nothing after 'first' reached Redis
    await admin.call('CLIENT', 'UNPAUSE');
    await Promise.all([first, ...later]);
    await until(() => received.length === 3);
    expect(messagesOn('hold')).toEqual(['first', 'a', 'b']);
  });

  it('does not hold back more than a bounded amount', async () => {
    const name = 'pub-bound';
    const { p } = open({ name });
    await p.ping();
    await admin.call('CLIENT', 'PAUSE', PAUSE_MS, 'WRITE');
    const all = [p.publish('bound', 'first')];
    await untilPostponed(name);
    const big = 'x'.repeat(10_000);
    for (let i = 0; i < 20; i++) all.push(p.publish('bound', big));
    // 'first' is still unanswered, yet the 200 KB behind it reach Redis.
    await until(async () => Number((await client(name))?.qbuf ?? 0) >= 20 * 10_000);
    await admin.call('CLIENT', 'UNPAUSE');
    await Promise.all(all);
    await until(() => received.length === 21);
  });

  it('queues publishes until connected, across a Redis restart and before the first connection', async () => {
    const restarted = open({ name: 'pub-restarted' });
    await restarted.p.ping();
    await redis.stop();
    const fresh = open({ name: 'pub-fresh' });
    let settled = 0;
    const all = ['r1', 'r2'].map((m) => restarted.p.publish('queued', m));
    all.push(...['f1', 'f2'].map((m) => fresh.p.publish('queued', m)));
    for (const q of all) void q.finally(() => settled++);
    await sleep(150);
    expect(settled).toBe(0);
    expect(restarted.statuses).toEqual(['ready', 'reconnecting']);
    expect(fresh.p.status).not.toBe('ready');
    await redis.start(); // an empty server: its command statistics start from zero
    await Promise.all(all);
    // The subscriber reconnects on its own time, so Redis's own count shows what it executed.
    expect(await infoField('commandstats', 'cmdstat_publish')).toMatch(/^calls=4,.*failed_calls=0/);
    expect(restarted.statuses.at(-1)).toBe('ready');
    expect(fresh.statuses.at(-1)).toBe('ready');
    expect(restarted.p.pendingCount + fresh.p.pendingCount).toBe(0);
  });

  it('after a lost connection, writes again exactly the publishes Redis had not answered', async () => {
    const name = 'pub-resend';
    const { p, statuses } = open({ name });
    await p.publish('resend', 'answered');
    await admin.call('CLIENT', 'PAUSE', PAUSE_MS, 'WRITE');
    const unanswered = [p.publish('resend', 'u1'), p.publish('resend', 'u2')];
    const info = await untilPostponed(name); // u1 postponed, u2 read into the query buffer
    expect(Number(info.qbuf)).toBeGreaterThan(0);
    await admin.call('CLIENT', 'KILL', 'ID', info.id!); // neither is ever executed
    await admin.call('CLIENT', 'UNPAUSE');
    await Promise.all(unanswered);
    await p.publish('resend', 'after');
    await until(() => messagesOn('resend').includes('after'));
    expect(messagesOn('resend')).toEqual(['answered', 'u1', 'u2', 'after']);
    expect(statuses).toEqual(['ready', 'reconnecting', 'ready']);
    expect((await client(name))?.id).not.toBe(info.id);
  });

  it('resends from the first unanswered command of a partly answered write', async () => {
    // ACL is checked before CLIENT PAUSE postpones a command, so the forbidden PUBLISH is answered
    // (NOPERM) while the two after it in the same write are not. Resending from the start of the
    // write would publish the forbidden one again, and its NOPERM would reject 'g'.
    await admin.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', 'resetchannels', '&allowed:*', '+@all');
    const name = 'pub-partial';
    const { p } = open({ url: redisUrl('limited', 'pw'), name });
    await p.ping();
    await admin.call('CLIENT', 'PAUSE', PAUSE_MS, 'WRITE');
    const forbidden = p.publish('forbidden:1', 'f');
    const rest = [p.publish('allowed:partial', 'g'), p.publish('allowed:partial', 'h')];
    await expect(forbidden).rejects.toThrow('NOPERM');
    const info = await untilPostponed(name);
    await admin.call('CLIENT', 'KILL', 'ID', info.id!);
    await admin.call('CLIENT', 'UNPAUSE');
    await Promise.all(rest);
    await p.publish('allowed:partial', 'after');
    await until(() => messagesOn('allowed:partial').includes('after'));
    expect(messagesOn('allowed:partial')).toEqual(['g', 'h', 'after']);
    expect(p.pendingCount).toBe(0);
  });

  it('runs a transaction as one unit and resolves with the errors of the commands that failed alone', async () => {
    const { p } = open();
    const parts = [
      ['XADD', 'tx-stream', '5-0', 'f', 'v'],
      ['XADD', 'tx-stream', '5-0', 'f', 'again'], // not above the stream's last id: fails alone
      ['PUBLISH', 'tx', 'x'],
    ].map((c) => Buffer.from(encodeCommand(c)));
    const errors = await p.transaction(parts.length, parts);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/equal or smaller than the target stream top item/);
    expect(await admin.xlen('tx-stream')).toBe(1);
    await until(() => messagesOn('tx').length === 1);
    // A command refused when queued (wrong arity): EXEC runs nothing and the transaction rejects.
    const refused = [
      ['PUBLISH', 'tx', 'y'],
      ['PUBLISH', 'tx'],
    ].map((c) => Buffer.from(encodeCommand(c)));
    await expect(p.transaction(2, refused)).rejects.toThrow(/wrong number of arguments.*EXECABORT/);
    await p.publish('tx', 'after');
    await until(() => messagesOn('tx').includes('after'));
    expect(messagesOn('tx')).toEqual(['x', 'after']);
    expect(p.pendingCount).toBe(0);
  });

  it('writes a transaction cut off after part of its replies again whole, and runs it once', async () => {
    const name = 'pub-tx-resend';
    const { p } = open({ name });
    await p.ping();
    await admin.call('CONFIG', 'RESETSTAT');
    await admin.call('CLIENT', 'PAUSE', PAUSE_MS, 'WRITE');
    const parts = [
      ['PUBLISH', 'tx-resend', 't1'],
      ['PUBLISH', 'tx-resend', 't2'],
      ['XADD', 'tx-resend-stream', '0-0', 'f', 'v'], // fails alone: EXEC's reply tells it
    ].map((c) => Buffer.from(encodeCommand(c)));
    const tx = p.transaction(parts.length, parts);
    const info = await untilPostponed(name); // MULTI answered, a PUBLISH postponed
    await admin.call('CLIENT', 'KILL', 'ID', info.id!);
    await admin.call('CLIENT', 'UNPAUSE');
    const errors = await tx;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/greater than 0-0/);
    await p.publish('tx-resend', 'after');
    await until(() => messagesOn('tx-resend').includes('after'));
    expect(messagesOn('tx-resend')).toEqual(['t1', 't2', 'after']);
    expect(await infoField('commandstats', 'cmdstat_exec')).toMatch(/^calls=1,/);
    expect(p.pendingCount).toBe(0);
  });

  it('rejects what is pending when closed, and anything published afterwards', async () => {
    const name = 'pub-close';
    const { p, statuses } = open({ name });
    await p.ping();
    await admin.call('CLIENT', 'PAUSE', PAUSE_MS, 'WRITE');
    const pending = [p.publish('close', 'm1'), p.publish('close', 'm2')];
    await untilPostponed(name);
    p.close();
    await expect(pending[0]).rejects.toThrow('closed');
    await expect(pending[1]).rejects.toThrow('closed');
    await expect(p.publish('close', 'n')).rejects.toThrow('closed');
    await expect(p.ping()).rejects.toThrow('closed');
    expect(p.status).toBe('closed');
    expect(statuses).toEqual(['ready', 'closed']);
    expect(p.pendingCount).toBe(0);
    await until(async () => (await client(name)) === undefined); // the connection is gone
  });
});
