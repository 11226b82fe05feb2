// The change history against a real redis-server: RedisBus writes each change into its table's
// stream and publishes it in one script per batch, HistoryReader reads it back and judges coverage.
import Redis from 'ioredis';
import { LocalRedis } from '@walcast/local-services';
import { createLogger } from '@walcast/logger';
import {
  HISTORY_START_KEY,
  HISTORY_TOPICS_KEY,
  POSITION_CHANNEL,
  formatPosition,
  historyKeyFor,
  parsePosition,
  topicForTable,
} from '@walcast/protocol';
import { RedisBus } from '../src/redis-bus';
import { HistoryReader } from '../src/history-reader';

jest.setTimeout(30_000);

let redis: LocalRedis;
let admin: Redis;
let sub: Redis;
let received: Array<{ channel: string; message: string }>;
const closers: Array<() => unknown> = [];

const topic = topicForTable('public', 'items');
const other = topicForTable('public', 'other');
const entry = (lsn: number, index = 0) => ({
  position: formatPosition(BigInt(lsn), index),
  streamId: `${lsn}-${index}`,
});
const pos = (lsn: number, index = 0) => parsePosition(formatPosition(BigInt(lsn), index))!;

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function bus(maxLen = 100): RedisBus {
  const b = new RedisBus({
    url: redis.url,
    name: 'history-test',
    log: createLogger({ service: 'ingester', level: 'silent', version: 'test' }),
    publishOnly: true,
    history: { maxLen },
  });
  closers.push(() => b.close());
  return b;
}

/** The changes a table's history holds (its entries hold several: history-packs.ts). */
async function held(t = topic): Promise<string[]> {
  return (await reader().read(t, pos(0), 100_000)).map((r) => r.message);
}

function reader(): HistoryReader {
  const r = new HistoryReader({ url: redis.url, name: 'history-reader', timeoutMs: 2000 });
  closers.push(() => r.close());
  return r;
}

beforeAll(async () => {
  redis = await LocalRedis.start();
  admin = new Redis(redis.url);
  sub = new Redis(redis.url);
  await sub.psubscribe('walcast:*');
  sub.on('pmessage', (_p, channel, message) => received.push({ channel, message }));
});

beforeEach(async () => {
  received = [];
  await admin.flushall();
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

afterAll(async () => {
  admin?.disconnect();
  sub?.disconnect();
  await redis?.destroy();
});

describe('history writes', () => {
  it('publishes every change in order, enters it in its stream, indexes the topic and announces the last position', async () => {
    const b = bus();
    await Promise.all([
      b.publish(topic, 'm1', entry(100, 0)),
      b.publish(other, 'o1', entry(100, 1)),
      b.publish(topic, 'm2', entry(200, 0)),
    ]);
    await until(() => received.length === 4);
    expect(received).toEqual([
      { channel: topic, message: 'm1' },
      { channel: other, message: 'o1' },
      { channel: topic, message: 'm2' },
      { channel: POSITION_CHANNEL, message: formatPosition(200n, 0) },
    ]);
    // The table's changes of the batch are one entry, named after the last.
    expect(await admin.xrange(historyKeyFor(topic), '-', '+')).toEqual([
      ['200-0', ['100-0', 'm1', '200-0', 'm2']],
    ]);
    expect((await admin.smembers(HISTORY_TOPICS_KEY)).sort()).toEqual([other, topic].sort());
    expect(await admin.get(HISTORY_START_KEY)).toBe(formatPosition(100n, 0));
    // One transaction for the batch, one XADD per table, and no script.
    const stats = await admin.info('commandstats');
    expect(stats).toMatch(/cmdstat_exec:calls=1,/);
    expect(stats).toMatch(/cmdstat_xadd:calls=2,/);
    expect(stats).not.toMatch(/cmdstat_evalsha/);
  });

  it('holds the writes of later turns while two batches are unanswered, then sends them as one, in order', async () => {
    const b = bus();
    await b.publish(topic, 'm0', entry(50)); // the connection is ready
    await admin.config('RESETSTAT');
    await admin.client('PAUSE', '10000', 'WRITE');
    const all: Array<Promise<void>> = [];
    for (let i = 1; i <= 5; i++) {
      all.push(b.publish(topic, `m${i}`, entry(100 * i)));
      await new Promise((resolve) => setImmediate(resolve)); // each in a turn of its own
    }
    await admin.client('UNPAUSE');
    await Promise.all(all);
    await until(() => received.filter((r) => r.channel === topic).length === 6);
    expect(received.filter((r) => r.channel === topic).map((r) => r.message)).toEqual([
      'm0',
      'm1',
      'm2',
      'm3',
      'm4',
      'm5',
    ]);
    expect(await held()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    expect(await admin.info('commandstats')).toMatch(/cmdstat_exec:calls=3,/);
  });

  it('publishes a change again without entering it twice (an ingester restart)', async () => {
    const b = bus();
    await b.publish(topic, 'm1', entry(100));
    await b.publish(topic, 'm2', entry(200));
    await b.publish(topic, 'm1', entry(100));
    await until(() => received.filter((r) => r.channel === topic).length === 3);
    expect(await admin.xlen(historyKeyFor(topic))).toBe(2);
    expect(await held()).toEqual(['m1', 'm2']);
  });

  it('keeps other publishes in order with the batched changes', async () => {
    const b = bus();
    const all = [
      b.publish(topic, 'm1', entry(100)),
      b.publish('plain', 'p1'),
      b.publish(topic, 'm2', entry(200)),
    ];
    await Promise.all(all);
    await until(() => received.filter((r) => r.channel !== POSITION_CHANNEL).length === 2);
    expect(received.filter((r) => r.channel === topic).map((r) => r.message)).toEqual(['m1', 'm2']);
    expect(await held()).toEqual(['m1', 'm2']);
  });

  it('bounds each stream by its maximum length in changes (approximately), in packs of an eighth of it', async () => {
    const b = bus(10);
    const all: Array<Promise<void>> = [];
    for (let i = 1; i <= 2000; i++) all.push(b.publish(topic, `m${i}`, entry(i)));
    await Promise.all(all);
    const length = (await held()).length;
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThan(300);
    const entries = await admin.xrange(historyKeyFor(topic), '-', '+');
    expect(Math.max(...entries.map(([, fields]) => fields.length / 2))).toBe(2);

    const big = bus(1000);
    const more: Array<Promise<void>> = [];
    for (let i = 1; i <= 5000; i++) more.push(big.publish(other, `o${i}`, entry(i)));
    await Promise.all(more);
    const kept = await held(other);
    expect(kept.length).toBeGreaterThanOrEqual(1000);
    expect(kept.length).toBeLessThanOrEqual(1400);
    expect(kept.at(-1)).toBe('o5000');
  });

  it('reads strictly after a position inside a pack, and each change once when a restart packed some again', async () => {
    const b = bus();
    await Promise.all([1, 2, 3].map((i) => b.publish(topic, `m${i}`, entry(i * 100))));
    await Promise.all([2, 3, 4, 5].map((i) => b.publish(topic, `m${i}`, entry(i * 100))));
    expect(await admin.xlen(historyKeyFor(topic))).toBe(2);
    const r = reader();
    expect((await r.read(topic, pos(100), 10)).map((x) => x.message)).toEqual(['m2', 'm3', 'm4', 'm5']);
    expect((await r.read(topic, pos(200), 2)).map((x) => x.message)).toEqual(['m3', 'm4']);
    expect((await r.read(topic, pos(300), 2)).map((x) => x.message)).toEqual(['m4', 'm5']);
    expect((await r.read(topic, pos(150), 1)).map((x) => x.position)).toEqual([pos(200)]);
    expect(await r.read(topic, pos(500), 10)).toEqual([]);
  });

  it('reads entries written before packing (one change each) with the packs after them', async () => {
    await admin.xadd(historyKeyFor(topic), '50-0', 'm', 'old1');
    await admin.xadd(historyKeyFor(topic), '60-0', 'm', 'old2');
    const b = bus();
    await Promise.all([1, 2].map((i) => b.publish(topic, `m${i}`, entry(i * 100))));
    expect((await reader().read(topic, pos(50), 10)).map((x) => x.message)).toEqual(['old2', 'm1', 'm2']);
  });

  it('loads its trimming script again when Redis forgot it (SCRIPT FLUSH), losing no write', async () => {
    const b = bus();
    await b.publish(topic, 'm1', entry(100));
    await admin.script('FLUSH');
    const trimmed = b.trimHistory('1-0');
    await b.publish(topic, 'm2', entry(200));
    await trimmed;
    expect(await held()).toEqual(['m1', 'm2']);
  });

  it('drops entries before a stream id from every history, keeping the streams', async () => {
    const b = bus();
    for (let i = 1; i <= 5; i++) await b.publish(topic, `m${i}`, entry(i * 100));
    await b.trimHistory('10000-0');
    expect(await admin.xlen(historyKeyFor(topic))).toBe(0);
    expect(await admin.exists(historyKeyFor(topic))).toBe(1);
  });
});

describe('history reads', () => {
  it('reads what follows a position, in order, page by page', async () => {
    const b = bus();
    for (let i = 1; i <= 5; i++) await b.publish(topic, `m${i}`, entry(i * 100));
    const r = reader();
    const page = await r.read(topic, pos(200), 2);
    expect(page.map((x) => x.message)).toEqual(['m3', 'm4']);
    expect(page[0]!.position).toEqual(pos(300));
    expect((await r.read(topic, pos(400), 10)).map((x) => x.message)).toEqual(['m5']);
    expect(await r.read(topicForTable('public', 'none'), pos(0), 10)).toEqual([]);
    expect(await r.topics(`walcast:v1:table:public:*`)).toEqual([topic].sort());
  });

  it('judges coverage: whole, trimmed, never written, and before the history started', async () => {
    const b = bus(1);
    const r = reader();
    expect(await r.covers(topic, pos(50))).toEqual({ covered: false, oldest: null }); // no history yet
    await b.publish(topic, 'm1', entry(100));
    expect(await r.covers(topic, pos(100))).toEqual({ covered: true });
    expect(await r.covers(other, pos(100))).toEqual({ covered: true }); // no change since the start
    expect(await r.covers(topic, pos(99))).toEqual({ covered: false, oldest: formatPosition(100n, 0) });
    for (let i = 2; i <= 400; i++) await b.publish(topic, `m${i}`, entry(i * 100));
    const first = (await admin.xrange(historyKeyFor(topic), '-', '+', 'COUNT', 1))[0]![0];
    const firstLsn = Number(first.split('-')[0]);
    expect(firstLsn).toBeGreaterThan(100);
    expect(await r.covers(topic, pos(firstLsn))).toEqual({ covered: true });
    expect(await r.covers(topic, pos(150))).toEqual({
      covered: false,
      oldest: formatPosition(BigInt(firstLsn), 0),
    });
    await b.trimHistory('1000000-0');
    expect(await r.covers(topic, pos(40000))).toEqual({ covered: true }); // empty, nothing after its last
    expect(await r.covers(topic, pos(39999))).toEqual({ covered: false, oldest: null });
  });

  it('judges coverage from the oldest change held: the first of the oldest pack', async () => {
    const b = bus(16); // packs of two changes
    const r = reader();
    await Promise.all(Array.from({ length: 400 }, (_, i) => b.publish(topic, `m${i + 1}`, entry(i + 1))));
    const [id, fields] = (await admin.xrange(historyKeyFor(topic), '-', '+', 'COUNT', 1))[0]!;
    expect(fields).toHaveLength(4);
    const firstLsn = Number(fields[0]!.split('-')[0]);
    expect(firstLsn).toBeGreaterThan(1);
    expect(id).toBe(`${firstLsn + 1}-0`);
    expect(await r.covers(topic, pos(firstLsn))).toEqual({ covered: true });
    expect(await r.covers(topic, pos(firstLsn - 1))).toEqual({
      covered: false,
      oldest: formatPosition(BigInt(firstLsn), 0),
    });
  });
});
