// Flow control from Redis subscribers: Redis closes a pub/sub subscriber whose unread output passes
// client-output-buffer-limit, and what it held is gone. The ingester reads the subscribers' backlogs
// and holds WAL reading while they are too far behind, so a burst too fast for the subscribers
// slows down instead of being lost; but one subscriber behind alone while another keeps up is
// waited for only SUBSCRIBER_BACKLOG_LONE_WAIT, then closed past SUBSCRIBER_BACKLOG_CLOSE.
import { connect, type Socket } from 'node:net';
import { sql, startStackWithSchema, waitFor, type Backends, type WalcastStack } from '@walcast/test-utils';

import { BusTap } from './support';
import { topicForTable } from '@walcast/protocol';

jest.setTimeout(120_000);

const TOPIC = topicForTable('public', 'items');
const MESSAGE_MARK = Buffer.from('*3\r\n$7\r\nmessage\r\n');

let backends: Backends;
let stack: WalcastStack;
let nextId = 1;

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table public.items (id int primary key, body text)',
      'create publication supabase_realtime for table public.items',
    ],
    { gateways: 0 },
  ));
  // A low limit, so that a few MB of backlog get a subscriber closed.
  await setPubsubLimit('4mb 2mb 60');
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
});

/** A subscriber on a bare socket, so the test decides when it reads. Counts `message` pushes. */
class RawSubscriber {
  count = 0;
  closed = false;
  raw = '';
  private tail = Buffer.alloc(0);
  private throttle: NodeJS.Timeout | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      if (this.raw.length < 200) this.raw += chunk.toString('latin1').slice(0, 200);
      const data = Buffer.concat([this.tail, chunk]);
      for (let at = data.indexOf(MESSAGE_MARK); at >= 0; at = data.indexOf(MESSAGE_MARK, at + 1))
        this.count++;
      this.tail = data.subarray(Math.max(0, data.length - MESSAGE_MARK.length + 1));
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static async open(port: number, host: string, topic: string | null, name?: string): Promise<RawSubscriber> {
    const socket = connect(port, host);
    await new Promise<void>((ok, fail) => {
      socket.once('connect', ok);
      socket.once('error', fail);
    });
    const sub = new RawSubscriber(socket);
    if (name !== undefined) socket.write(command(['CLIENT', 'SETNAME', name]));
    if (topic !== null) {
      socket.write(`*2\r\n$9\r\nSUBSCRIBE\r\n$${topic.length}\r\n${topic}\r\n`);
      await waitFor(() => sub.raw.includes('subscribe'), { timeoutMs: 2000, message: 'SUBSCRIBE' });
    }
    return sub;
  }

  /** Reads 10 ms out of every `periodMs`: a gateway far slower than the ingester. */
  readSlowly(periodMs = 100): void {
    this.socket.pause();
    this.throttle = setInterval(() => {
      this.socket.resume();
      setTimeout(() => this.socket.pause(), 10);
    }, periodMs);
  }

  stop(): void {
    if (this.throttle) clearInterval(this.throttle);
    this.socket.destroy();
  }
}

/** One command in RESP. */
function command(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** CONFIG SET client-output-buffer-limit "pubsub <limits>". */
async function setPubsubLimit(limits: string): Promise<void> {
  const redis = new URL(backends.redis.url);
  const admin = await RawSubscriber.open(Number(redis.port), redis.hostname, null);
  admin.socket.write(command(['CONFIG', 'SET', 'client-output-buffer-limit', `pubsub ${limits}`]));
  await waitFor(() => admin.raw.includes('+OK'), { timeoutMs: 2000, message: 'CONFIG SET' });
  admin.socket.destroy();
}

/** A raw subscriber to the table's topic; `name` as a gateway names its connection. */
async function slowSubscriber(name?: string): Promise<RawSubscriber> {
  const redis = new URL(backends.redis.url);
  return RawSubscriber.open(Number(redis.port), redis.hostname, TOPIC, name);
}

/**
 * One transaction of `rows` rows of ~8 KB each: 80 MB for 10,000 rows, well beyond what the
 * kernel buffers for a socket that does not read (tcp_rmem allows up to 32 MB here).
 */
async function bigTransaction(rows: number): Promise<void> {
  const first = nextId;
  nextId += rows;
  await sql(
    backends.pg.url,
    `insert into items select i, repeat('x', 8000) from generate_series(${first}, ${first + rows - 1}) i`,
  );
}

/** One counter of the ingester's /metrics. */
async function counter(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.healthPort}/metrics`)).text();
  return Number(new RegExp(`^${name} (\\d+)`, 'm').exec(text)?.[1]);
}

const published = (): Promise<number> => counter('walcast_ingester_changes_published_total');

async function restartIngester(env: Record<string, string>): Promise<void> {
  await stack.ingester?.stop();
  await stack.startIngester(env);
}

describe('a slow subscriber', () => {
  it('without flow control, Redis closes a subscriber that falls behind (the failure this prevents)', async () => {
    await restartIngester({ SUBSCRIBER_BACKLOG_PAUSE: '0' });
    const slow = await slowSubscriber();
    try {
      // Not reading at all: 80 MB of messages overflow the socket buffers and the 4 MB limit.
      slow.socket.pause();
      await bigTransaction(10_000);
      await waitFor(async () => (await published()) === 10_000, {
        timeoutMs: 30_000,
        message: 'the ingester to publish the transaction',
      });
      // A paused socket sees its close only after reading what the kernel holds.
      slow.socket.resume();
      await waitFor(() => slow.closed || slow.count === 10_000, {
        timeoutMs: 30_000,
        message: 'the subscriber to read what it was sent',
      });
      expect(slow.closed).toBe(true);
      expect(slow.count).toBeLessThan(10_000);
    } finally {
      slow.stop();
    }
  });

  it('with flow control, receives every row of the same transaction and is never closed', async () => {
    await restartIngester({
      SUBSCRIBER_BACKLOG_PAUSE: '1MiB',
      SUBSCRIBER_BACKLOG_MAX_WAIT: '60s',
      SUBSCRIBER_CHECK_INTERVAL: '20ms',
    });
    const slow = await slowSubscriber();
    try {
      slow.readSlowly();
      await bigTransaction(10_000);
      await waitFor(() => slow.count >= 10_000 || slow.closed, {
        timeoutMs: 90_000,
        intervalMs: 100,
        message: 'the slow subscriber to receive 10,000 rows',
      });
      expect(slow.closed).toBe(false);
      expect(slow.count).toBe(10_000);
      expect(await counter('walcast_ingester_subscriber_holds_total')).toBeGreaterThanOrEqual(1);
    } finally {
      slow.stop();
    }
  });

  it('two slow ones (the burst is too fast for every subscriber) both receive every row', async () => {
    await restartIngester({
      SUBSCRIBER_BACKLOG_PAUSE: '1MiB',
      SUBSCRIBER_BACKLOG_LONE_WAIT: '300ms',
      SUBSCRIBER_BACKLOG_MAX_WAIT: '60s',
      SUBSCRIBER_CHECK_INTERVAL: '20ms',
    });
    const slow = [
      await slowSubscriber('walcast-gateway:slow-a:sub'),
      await slowSubscriber('walcast-gateway:slow-b:sub'),
    ];
    try {
      for (const s of slow) s.readSlowly();
      await bigTransaction(10_000);
      await waitFor(() => slow.every((s) => s.count >= 10_000 || s.closed), {
        timeoutMs: 90_000,
        intervalMs: 100,
        message: 'both slow subscribers to receive 10,000 rows',
      });
      expect(slow.map((s) => [s.closed, s.count])).toEqual([
        [false, 10_000],
        [false, 10_000],
      ]);
      expect(await counter('walcast_ingester_subscriber_holds_total')).toBeGreaterThanOrEqual(1);
      expect(stack.ingester!.logs.some((l) => l['code'] === 'SlowSubscriber')).toBe(false);
    } finally {
      for (const s of slow) s.stop();
    }
  });

  it('one that stops reading while another keeps up holds nobody past the short wait, and is closed', async () => {
    await restartIngester({
      SUBSCRIBER_BACKLOG_PAUSE: '1MiB',
      SUBSCRIBER_BACKLOG_LONE_WAIT: '300ms',
      SUBSCRIBER_BACKLOG_MAX_WAIT: '60s',
      SUBSCRIBER_BACKLOG_CLOSE: '8MiB',
      SUBSCRIBER_CHECK_INTERVAL: '20ms',
    });
    // Redis's own limit far away, so only the ingester closes the stalled subscriber.
    await setPubsubLimit('256mb 128mb 60');
    const stuck = await slowSubscriber('walcast-gateway:stalled:sub');
    const tap = await BusTap.open(backends.redis.url, { keep: false });
    try {
      stuck.socket.pause();
      const before = tap.count;
      const started = Date.now();
      await bigTransaction(10_000);
      // Waiting for the stalled subscriber up to the maximum wait (60 s) would time this out.
      await waitFor(() => tap.count - before >= 10_000, {
        timeoutMs: 30_000,
        message: 'the reading subscriber to receive all 10,000 rows',
      });
      expect(Date.now() - started).toBeLessThan(30_000);
      const warning = stack.ingester!.logs.find((l) => l['code'] === 'SlowSubscriber');
      expect(warning).toMatchObject({
        level: 'warn',
        why: 'behind alone',
        subscriber: 'walcast-gateway:stalled:sub',
      });
      expect(await counter('walcast_ingester_subscribers_closed_total')).toBe(1);
      stuck.socket.resume(); // it sees its close after what the kernel held for it
      await waitFor(() => stuck.closed, {
        timeoutMs: 10_000,
        message: 'the stalled subscriber to be closed',
      });
      expect(stuck.count).toBeLessThan(10_000);
    } finally {
      stuck.stop();
      await tap.close();
    }
  });
});
