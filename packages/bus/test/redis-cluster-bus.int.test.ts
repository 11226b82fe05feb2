// The bus on a real Redis Cluster (3 masters, 3 replicas, local redis-server processes): sharded
// pub/sub across shards, fan-in channels for the gateways' patterns, history per hash slot, the
// subscriber backlog of every master, a write-paused shard, and a master killed and replaced.
import { Cluster, Redis } from 'ioredis';
import { LocalRedisCluster } from '@walcast/local-services';
import { createLogger } from '@walcast/logger';
import {
  FAN_IN_ALL_CHANNEL,
  fanInChannelForSchema,
  formatPosition,
  hashSlot,
  historyKeyFor,
  historyLastKeyForSlot,
  historyStartKeyForSlot,
  historyTopicsKeyForSlot,
  parsePosition,
  patternForAll,
  patternForSchema,
  positionChannelForSlot,
  topicForBroadcast,
  topicForTable,
} from '@walcast/protocol';
import type { BusKey, BusState } from '../src/bus';
import { SlotBatch } from '../src/cluster-batch';
import { CLUSTER_BATCH_SCRIPT, RESTART_STARTS_SCRIPT } from '../src/cluster-scripts';
import { HistoryCutoffs } from '../src/history-packs';
import { HistoryReader } from '../src/history-reader';
import { RedisClusterBus } from '../src/redis-cluster-bus';
import type { ClusterSeeds } from '../src/redis-target';

jest.setTimeout(60_000);

const log = createLogger({ service: 'gateway', level: 'silent', version: 'test' });
let cluster: LocalRedisCluster;
let seeds: ClusterSeeds;
let admin: Cluster;
const closers: Array<() => unknown> = [];

const entry = (lsn: number, index = 0) => ({
  position: formatPosition(BigInt(lsn), index),
  streamId: `${lsn}-${index}`,
});
const pos = (lsn: number) => parsePosition(formatPosition(BigInt(lsn), 0))!;

async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function bus(opts: { publishOnly?: boolean; history?: boolean; name?: string } = {}): RedisClusterBus {
  const b = new RedisClusterBus({
    cluster: seeds,
    name: opts.name ?? 'walcast-gateway:test',
    log,
    ...(opts.publishOnly ? { publishOnly: true } : {}),
    ...(opts.history ? { history: { maxLen: 100 } } : {}),
  });
  closers.push(() => b.close());
  return b;
}

function record(b: RedisClusterBus): Array<{ via: BusKey; topic: string; message: string }> {
  const got: Array<{ via: BusKey; topic: string; message: string }> = [];
  b.onMessage((via, topic, message) => got.push({ via, topic, message }));
  return got;
}

/** Table topics spread over every master (the cluster has three). */
async function topicsOnEveryShard(prefix: string): Promise<string[]> {
  const masters = await cluster.masters();
  const found = new Map<number, string>();
  for (let i = 0; found.size < masters.length; i++) {
    const topic = topicForTable('public', `${prefix}${i}`);
    const owner = masters.indexOf(await cluster.masterOf(hashSlot(topic)));
    if (!found.has(owner)) found.set(owner, topic);
  }
  return [...found.values()];
}

beforeAll(async () => {
  cluster = await LocalRedisCluster.start({ masters: 3, replicasPerMaster: 1 });
  seeds = { nodes: cluster.nodes.map((n) => ({ host: n.host, port: n.port })), tls: false };
  admin = new Cluster(seeds.nodes.map((n) => ({ ...n })));
  admin.on('error', () => undefined);
});

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

afterAll(async () => {
  admin?.disconnect();
  await cluster?.destroy();
});

describe('sharded pub/sub', () => {
  it('delivers to exact subscriptions on every shard, once subscribed, in order per topic', async () => {
    const topics = await topicsOnEveryShard('t');
    const sub = bus();
    const got = record(sub);
    const states: BusState[] = [];
    sub.onStateChange((s) => states.push(s));
    for (const topic of topics) await sub.subscribe({ topic });
    const pub = bus({ publishOnly: true });
    await until(() => pub.state === 'ready' && sub.state === 'ready', 'both buses ready');
    const sent: Array<Promise<void>> = [];
    for (let i = 0; i < 100; i++) for (const topic of topics) sent.push(pub.publish(topic, `${topic}#${i}`));
    await Promise.all(sent);
    await until(() => got.length === 300, '300 messages');
    for (const topic of topics) {
      const mine = got.filter((g) => g.topic === topic);
      expect(mine.map((g) => g.message)).toEqual(Array.from({ length: 100 }, (_, i) => `${topic}#${i}`));
      expect(mine.every((g) => g.via.topic === topic)).toBe(true);
    }
    // Sharded: each topic's messages were published on its own shard only.
    const shardCounts = await Promise.all(
      (await cluster.masters()).map(async (m) => {
        const r = new Redis(m.port);
        const stats = await r.info('commandstats');
        r.disconnect();
        return /cmdstat_publish:/.test(stats);
      }),
    );
    expect(shardCounts).toEqual([false, false, false]);
    // Connecting to one more master for a new subscription is not a loss.
    expect(states).not.toContain('reconnecting');
  });

  it('serves the schema and all-tables patterns from fan-in channels, with the table topic', async () => {
    const sub = bus();
    const got = record(sub);
    await sub.subscribe({ pattern: patternForSchema('public') });
    await sub.subscribe({ pattern: patternForAll() });
    const pub = bus({ publishOnly: true });
    const users = topicForTable('public', 'users');
    const audit = topicForTable('audit', 'log');
    await pub.publish(users, 'u1');
    await pub.publish(audit, 'a1');
    await pub.publish(topicForBroadcast('room', false), 'not a table');
    await until(() => got.length === 3, 'three deliveries');
    expect(got).toEqual(
      expect.arrayContaining([
        { via: { pattern: patternForSchema('public') }, topic: users, message: 'u1' },
        { via: { pattern: patternForAll() }, topic: users, message: 'u1' },
        { via: { pattern: patternForAll() }, topic: audit, message: 'a1' },
      ]),
    );
    await expect(sub.subscribe({ pattern: 'walcast:v1:table:public:us*' })).rejects.toThrow(
      /cannot be subscribed/,
    );
  });
});

describe('history per hash slot', () => {
  it('writes streams, per-slot starts, indexes and position announcements, and reads them back', async () => {
    const [a, b, c] = await topicsOnEveryShard('h');
    const announcements: Array<{ channel: string; message: string }> = [];
    const listener = new Redis((await cluster.masterOf(hashSlot(a!))).port);
    listener.on('smessage', (channel: string, message: string) => announcements.push({ channel, message }));
    await listener.ssubscribe(positionChannelForSlot(hashSlot(a!)));
    closers.push(() => listener.disconnect());

    const pub = bus({ publishOnly: true, history: true });
    await Promise.all([
      pub.publish(a!, 'a100', entry(100)),
      pub.publish(b!, 'b100', entry(100, 1)),
      pub.publish(a!, 'a200', entry(200)),
      pub.publish(c!, 'c300', entry(300)),
    ]);
    // One entry for the table's changes of the call, named after its last (history-packs.ts).
    expect(await admin.xrange(historyKeyFor(a!), '-', '+')).toEqual([
      ['200-0', ['100-0', 'a100', '200-0', 'a200']],
    ]);
    expect(await admin.get(historyStartKeyForSlot(hashSlot(a!)))).toBe(formatPosition(100n, 0));
    expect(await admin.smembers(historyTopicsKeyForSlot(hashSlot(c!)))).toEqual([c]);
    await until(() => announcements.length > 0, 'a position announcement');
    expect(announcements.at(-1)).toEqual({
      channel: positionChannelForSlot(hashSlot(a!)),
      message: formatPosition(200n, 0),
    });
    // Every slot's start was seeded, so a table with no change since is covered.
    const quiet = topicForTable('public', 'quiet');
    await until(
      async () => (await admin.get(historyStartKeyForSlot(hashSlot(quiet)))) !== null,
      'seeded starts',
    );

    const reader = new HistoryReader({ cluster: seeds, name: 'reader', timeoutMs: 2000 });
    closers.push(() => reader.close());
    expect((await reader.read(a!, pos(100), 10)).map((r) => r.message)).toEqual(['a200']);
    expect(await reader.covers(a!, pos(100))).toEqual({ covered: true });
    expect(await reader.covers(a!, pos(50))).toEqual({ covered: false, oldest: formatPosition(100n, 0) });
    expect(await reader.covers(quiet, pos(150))).toEqual({ covered: true });
    expect(await reader.topics(patternForSchema('public'))).toEqual([a, b, c].sort());

    await pub.trimHistory('1000-0');
    expect(await admin.xlen(historyKeyFor(a!))).toBe(0);
    expect(await admin.exists(historyKeyFor(a!))).toBe(1);
  });
});

describe("a slot's history after a failover", () => {
  it('starts again only when the new master lacks the last position the old one accepted', async () => {
    const topic = topicForTable('public', 'restarted');
    const slot = hashSlot(topic);
    const P = (lsn: number) => formatPosition(BigInt(lsn), 0);
    const call = async (lsn: number, restart: string | boolean): Promise<void> => {
      const batch = new SlotBatch(slot);
      batch.add(topic, `m${lsn}`, entry(lsn), { resolve: () => undefined, reject: () => undefined });
      await admin.eval(
        CLUSTER_BATCH_SCRIPT,
        ...(batch.take(new HistoryCutoffs(100), 100, restart).args as [string, ...string[]]),
      );
    };
    const start = () => admin.get(historyStartKeyForSlot(slot));
    await call(100, false);
    expect([await start(), await admin.get(historyLastKeyForSlot(slot))]).toEqual([P(100), P(100)]);
    await call(200, P(100)); // the new master holds 100: the history goes on
    expect([await start(), await admin.get(historyLastKeyForSlot(slot))]).toEqual([P(100), P(200)]);
    await call(300, P(250)); // it lacks 250: the history starts again
    expect(await start()).toBe(P(300));
    await call(400, true); // nothing known of what the old master accepted
    expect(await start()).toBe(P(400));

    // The same check for slots without a batch to carry it, one script per master.
    const master = new Redis((await cluster.masterOf(slot)).port);
    closers.push(() => master.disconnect());
    const restart = (accepted: string) =>
      master.eval(
        RESTART_STARTS_SCRIPT,
        0,
        P(500),
        historyStartKeyForSlot(slot),
        historyLastKeyForSlot(slot),
        accepted,
      );
    expect(await restart(P(400))).toBe(0);
    expect(await start()).toBe(P(400));
    expect(await restart(P(450))).toBe(1);
    expect(await start()).toBe(P(500));
  });
});

describe('subscribers of every master', () => {
  it('lists each subscriber connection with its node, and closes one by that id', async () => {
    const topics = await topicsOnEveryShard('s');
    const sub = bus({ name: 'walcast-gateway:backlog' });
    for (const topic of topics) await sub.subscribe({ topic });
    const states: BusState[] = [];
    sub.onStateChange((s) => states.push(s));
    const pub = bus({ publishOnly: true });
    const mine = (await pub.subscriberBacklog()).filter((c) => c.name === 'walcast-gateway:backlog:sub');
    expect(mine).toHaveLength(3);
    expect(new Set(mine.map((c) => c.id.split('/')[0])).size).toBe(3);
    await pub.closeSubscriber(mine[0]!.id);
    await until(
      () => states.includes('reconnecting') && sub.state === 'ready',
      'the subscriber to come back',
    );
  });
});

describe('a shard that cannot take writes', () => {
  it('holds its publishes, not the other shards’, and delivers them once it can', async () => {
    // The shard paused must not serve the fan-in channels, which every table change also goes to.
    const fanIns = await Promise.all(
      [fanInChannelForSchema('public'), FAN_IN_ALL_CHANNEL].map((c) => cluster.masterOf(hashSlot(c))),
    );
    const masters = await cluster.masters();
    const paused = masters.find((m) => !fanIns.includes(m))!;
    const topics = await topicsOnEveryShard('p');
    const owners = await Promise.all(topics.map((t) => cluster.masterOf(hashSlot(t))));
    const slow = topics[owners.indexOf(paused)]!;
    const fast = topics[owners.findIndex((o) => o !== paused)]!;
    const pub = bus({ publishOnly: true, history: true });
    await pub.publish(slow, 'warm-up', entry(1));
    const pauser = new Redis(paused.port);
    closers.push(() => pauser.disconnect());
    await pauser.call('CLIENT', 'PAUSE', '1500', 'WRITE');
    let slowDone = false;
    const slowPublish = pub.publish(slow, 'held', entry(10)).then(() => (slowDone = true));
    await pub.publish(fast, 'through', entry(11));
    expect(slowDone).toBe(false);
    await slowPublish;
    expect(await admin.xlen(historyKeyFor(slow))).toBe(2);
  });
});

describe('a master killed', () => {
  it('is replaced by its replica: subscriptions move, publishes wait and arrive, the bus reports the loss', async () => {
    const topics = await topicsOnEveryShard('f');
    const sub = bus();
    const got = record(sub);
    for (const topic of topics) await sub.subscribe({ topic });
    const states: BusState[] = [];
    sub.onStateChange((s) => states.push(s));
    const pub = bus({ publishOnly: true });
    const victim = await cluster.masterOf(hashSlot(topics[0]!));

    const heir = cluster.failOver(victim);
    const during = pub.publish(topics[0]!, 'during');
    await heir;
    await during;
    await until(() => states.includes('reconnecting') && sub.state === 'ready', 'the bus to recover');
    for (const topic of topics) await pub.publish(topic, 'after');
    await until(() => got.filter((g) => g.message === 'after').length === 3, 'messages on every shard after');
  });

  it('keeps the history of a slot whose replica holds everything the old master accepted', async () => {
    // A shard that still has a live replica (the case above used one up).
    const view = await cluster.view();
    const live = (port: number) => cluster.nodes.find((n) => n.port === port)?.isRunning() === true;
    const withReplica = view.filter(
      (v) =>
        v.role === 'master' &&
        v.slots.length > 0 &&
        view.some((r) => r.role === 'replica' && r.masterId === v.id && !r.isFailing && live(r.port)),
    );
    let topic = '';
    for (let i = 0; topic === ''; i++) {
      const t = topicForTable('public', `k${i}`);
      const slot = hashSlot(t);
      if (withReplica.some((m) => m.slots.some(([a, b]) => slot >= a && slot <= b))) topic = t;
    }
    const slot = hashSlot(topic);
    const pub = bus({ publishOnly: true, history: true });
    await pub.publish(topic, 'k100', entry(100));
    await pub.publish(topic, 'k200', entry(200));
    const victim = await cluster.masterOf(slot);
    const direct = new Redis(victim.port);
    closers.push(() => direct.disconnect());
    expect(await direct.call('WAIT', '1', '5000')).toBe(1); // the replica has both
    const start = await admin.get(historyStartKeyForSlot(slot));

    await cluster.failOver(victim);
    await pub.publish(topic, 'k300', entry(300));
    expect(await admin.get(historyStartKeyForSlot(slot))).toBe(start);
    expect(await admin.get(historyLastKeyForSlot(slot))).toBe(formatPosition(300n, 0));
    const reader = new HistoryReader({ cluster: seeds, name: 'reader', timeoutMs: 2000 });
    closers.push(() => reader.close());
    expect(await reader.covers(topic, pos(100))).toEqual({ covered: true });
    expect((await reader.read(topic, pos(100), 10)).map((r) => r.message)).toEqual(['k200', 'k300']);
  });
});
