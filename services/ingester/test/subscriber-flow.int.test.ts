// Flow control from Redis subscribers: Redis closes a pub/sub subscriber whose unread output passes
// client-output-buffer-limit, and what it held is gone. The ingester reads the subscribers' backlogs
// and holds WAL reading while one is too far behind, so a slow gateway slows a burst down instead
// of losing it; a subscriber that stays stuck is given up on after SUBSCRIBER_BACKLOG_MAX_WAIT.
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

  static async open(port: number, host: string, topic: string | null): Promise<RawSubscriber> {
    const socket = connect(port, host);
    await new Promise<void>((ok, fail) => {
      socket.once('connect', ok);
      socket.once('error', fail);
    });
    const sub = new RawSubscriber(socket);
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

/** CONFIG SET client-output-buffer-limit "pubsub <limits>". */
async function setPubsubLimit(limits: string): Promise<void> {
  const redis = new URL(backends.redis.url);
  const admin = await RawSubscriber.open(Number(redis.port), redis.hostname, null);
  const args = ['CONFIG', 'SET', 'client-output-buffer-limit', `pubsub ${limits}`];
  admin.socket.write(`*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`);
  await waitFor(() => admin.raw.includes('+OK'), { timeoutMs: 2000, message: 'CONFIG SET' });
  admin.socket.destroy();
}

async function slowSubscriber(): Promise<RawSubscriber> {
  const redis = new URL(backends.redis.url);
  return RawSubscriber.open(Number(redis.port), redis.hostname, TOPIC);
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

/** The ingester's walcast_ingester_changes_published_total. */
async function published(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.healthPort}/metrics`)).text();
  return Number(/^walcast_ingester_changes_published_total (\d+)/m.exec(text)?.[1]);
}

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
      const metrics = await (await fetch(`http://127.0.0.1:${stack.healthPort}/metrics`)).text();
      const holds = /^walcast_ingester_subscriber_holds_total (\d+)/m.exec(metrics);
      expect(Number(holds?.[1])).toBeGreaterThanOrEqual(1);
    } finally {
      slow.stop();
    }
  });

  it('one that stops reading altogether is given up on after the maximum wait; others get everything', async () => {
    await restartIngester({
      SUBSCRIBER_BACKLOG_PAUSE: '1MiB',
      SUBSCRIBER_BACKLOG_MAX_WAIT: '2s',
      SUBSCRIBER_CHECK_INTERVAL: '20ms',
    });
    // Redis's own limit far away, so only the ingester's give-up lets the burst through.
    await setPubsubLimit('256mb 128mb 60');
    const stuck = await slowSubscriber();
    const tap = await BusTap.open(backends.redis.url, { keep: false });
    try {
      stuck.socket.pause();
      const before = tap.count;
      await bigTransaction(10_000);
      await waitFor(() => tap.count - before >= 10_000, {
        timeoutMs: 60_000,
        message: 'a reading subscriber to receive all 10,000 rows',
      });
      expect(stuck.closed).toBe(false);
      const warning = stack.ingester!.logs.find((l) => l['code'] === 'SlowSubscriber');
      expect(warning).toBeDefined();
      expect(warning!['level']).toBe('warn');
    } finally {
      stuck.stop();
      await tap.close();
    }
  });
});
