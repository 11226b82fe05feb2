// The presence store against a real Redis and a real Redis Cluster (3 masters): several store
// instances stand for several gateways; what they publish is read by a subscriber on the channel's
// broadcast topic (a shard channel on the cluster) and decoded with decodeBroadcastMessage, and what
// they store is read back with HGETALL. A "killed" gateway is a store abandoned without cleanup
// (timers stopped, connection dropped). Every case runs on both; the Redis restart differs.
import { RedisClusterBus, type RedisTarget } from '@walcast/bus';
import { createLogger } from '@walcast/logger';
import { decodeBroadcastMessage, hashSlot, topicForBroadcast } from '@walcast/protocol';
import { LocalRedisCluster, startBackends, uniqueName, waitFor, type Backends } from '@walcast/test-utils';
import { Cluster, Redis } from 'ioredis';
import {
  CLUSTER_PRESENCE,
  SINGLE_REDIS_PRESENCE,
  type PresenceKeyspace,
} from '../src/presence/presence-keyspace';

import {
  createRedisPresenceStore,
  type PresenceEntry,
  type PresenceTopic,
  type RedisPresenceStore,
} from '../src/presence/presence-store';

jest.setTimeout(60_000);

const LEASE_MS = 900;
const SWEEP_PERIOD_MS = LEASE_MS / 3;
const log = createLogger({ service: 'gateway', level: 'silent', version: 'test' });

interface Diff {
  src: string;
  joins: Record<string, { metas: Array<Record<string, unknown>> }>;
  leaves: Record<string, { metas: Array<Record<string, unknown>> }>;
  atMs: number;
}

type Mode = 'one Redis' | 'a Redis Cluster';

let backends: Backends;
let cluster: LocalRedisCluster;
let target: RedisTarget;
let keys: PresenceKeyspace;
/** Commands (a Cluster routes them by key, as a Redis would run them). */
let admin: Redis;
/** Subscribes to a broadcast topic: SUBSCRIBE on one Redis, SSUBSCRIBE on the cluster. */
let subscribe: (channel: string) => Promise<void>;
let closeSubscriber: () => Promise<void>;
/** Diffs received per broadcast topic. */
const diffs = new Map<string, Diff[]>();
let stores: RedisPresenceStore[] = [];

function onDiff(channel: string, text: string): void {
  const { header, payloadText } = decodeBroadcastMessage(text);
  expect(header).toMatchObject({ shape: 'presence', event: 'presence_diff', enc: 'json' });
  const list = diffs.get(channel) ?? [];
  list.push({ src: header.src, ...(JSON.parse(payloadText) as Omit<Diff, 'src'>), atMs: Date.now() });
  diffs.set(channel, list);
}

async function useOneRedis(): Promise<void> {
  backends = await startBackends();
  target = { url: backends.redis.url };
  keys = SINGLE_REDIS_PRESENCE;
  admin = new Redis(backends.redis.url, { maxRetriesPerRequest: 1 });
  const sub = new Redis(backends.redis.url);
  for (const c of [admin, sub]) c.on('error', () => undefined);
  sub.on('message', onDiff);
  subscribe = async (channel) => void (await sub.subscribe(channel));
  closeSubscriber = async () => sub.disconnect();
}

async function useCluster(): Promise<void> {
  cluster = await LocalRedisCluster.start({ masters: 3 });
  const seeds = { nodes: cluster.nodes.map((n) => ({ host: n.host, port: n.port })), tls: false };
  target = { cluster: seeds };
  keys = CLUSTER_PRESENCE;
  const commands = new Cluster(seeds.nodes.map((n) => ({ ...n })));
  commands.on('error', () => undefined);
  admin = commands as unknown as Redis;
  const bus = new RedisClusterBus({ cluster: seeds, name: 'presence-test', log });
  bus.onMessage((_via, channel, text) => onDiff(channel, text));
  subscribe = (channel) => bus.subscribe({ topic: channel });
  closeSubscriber = () => bus.close();
}

afterEach(async () => {
  await Promise.all(stores.map((s) => s.stop()));
  stores = [];
});

async function closeAll(): Promise<void> {
  await closeSubscriber?.();
  admin?.disconnect();
  await backends?.stop();
  await cluster?.destroy();
}

function open(gatewayId = uniqueName('gw'), leaseMs = LEASE_MS): RedisPresenceStore {
  const store = createRedisPresenceStore({ redis: target, gatewayId, leaseMs, log });
  stores.push(store as RedisPresenceStore);
  return store as RedisPresenceStore;
}

async function started(gatewayId?: string): Promise<RedisPresenceStore> {
  const store = open(gatewayId);
  store.start();
  const id = store.gatewayId;
  await waitFor(async () => (await admin.zscore(keys.leasesKey, id)) !== null, {
    message: 'the store to take its lease',
  });
  return store;
}

/** A fresh channel, subscribed to. */
async function channel(isPrivate = false): Promise<PresenceTopic & { bus: string }> {
  const topic = { subtopic: uniqueName('room'), isPrivate };
  const bus = topicForBroadcast(topic.subtopic, isPrivate);
  await subscribe(bus);
  return { ...topic, bus };
}

function entry(key: string, ref: string, fields: Record<string, unknown> = {}): PresenceEntry {
  return { key, meta: { ...fields, phx_ref: ref } };
}

function diffsOf(topic: { bus: string }): Diff[] {
  return diffs.get(topic.bus) ?? [];
}

async function stored(topic: PresenceTopic): Promise<PresenceEntry[]> {
  const hash = await admin.hgetall(keys.stateKey(topic.subtopic, topic.isPrivate));
  return Object.values(hash)
    .map((v) => JSON.parse(v) as PresenceEntry)
    .sort((a, b) => a.meta.phx_ref.localeCompare(b.meta.phx_ref));
}

function refs(entries: PresenceEntry[]): string[] {
  return entries.map((e) => e.meta.phx_ref).sort();
}

describe.each<[Mode, () => Promise<void>]>([
  ['one Redis', useOneRedis],
  ['a Redis Cluster', useCluster],
])('on %s', (name, use) => {
  beforeAll(use);
  afterAll(closeAll);

  describe('track, update and untrack', () => {
    it('store the entry and publish its join, its replacement and its leave, in order', async () => {
      const store = await started();
      const topic = await channel();
      const first = entry('u1', 'r1', { name: 'a' });
      await store.track(topic, first, null);
      expect(await stored(topic)).toEqual([first]);

      const second = entry('u1', 'r2', { name: 'b', phx_ref_prev: 'r1' });
      await store.track(topic, second, first);
      expect(await stored(topic)).toEqual([second]);

      await store.untrack(topic, second);
      expect(await stored(topic)).toEqual([]);

      await waitFor(() => diffsOf(topic).length === 3, { message: 'three diffs' });
      expect(diffsOf(topic).map(({ joins, leaves }) => ({ joins, leaves }))).toEqual([
        { joins: { u1: { metas: [first.meta] } }, leaves: {} },
        { joins: { u1: { metas: [second.meta] } }, leaves: { u1: { metas: [first.meta] } } },
        { joins: {}, leaves: { u1: { metas: [second.meta] } } },
      ]);
      expect(diffsOf(topic)[1]!.joins['u1']!.metas[0]).toMatchObject({ phx_ref_prev: 'r1' });
    });

    it('keep public and private channels of one name apart', async () => {
      const store = await started();
      const pub = await channel(false);
      const priv = { subtopic: pub.subtopic, isPrivate: true, bus: topicForBroadcast(pub.subtopic, true) };
      await subscribe(priv.bus);
      await store.track(priv, entry('k', 'p1'), null);
      expect(await store.list(pub)).toEqual([]);
      expect(refs(await store.list(priv))).toEqual(['p1']);
      await waitFor(() => diffsOf(priv).length === 1);
      expect(diffsOf(pub)).toEqual([]);
    });
  });

  describe('list', () => {
    it('returns the union of every gateway’s entries, several metas under one key', async () => {
      const [a, b] = [await started(), await started()];
      const topic = await channel();
      await a.track(topic, entry('same', 'a1'), null);
      await b.track(topic, entry('same', 'b1'), null);
      await b.track(topic, entry('other', 'b2'), null);
      const listed = await a.list(topic);
      expect(refs(listed)).toEqual(['a1', 'b1', 'b2']);
      expect(refs(await b.list(topic))).toEqual(['a1', 'b1', 'b2']);
    });

    it('skips malformed stored values', async () => {
      const store = await started();
      const topic = await channel();
      await store.track(topic, entry('k', 'good'), null);
      const key = keys.stateKey(topic.subtopic, topic.isPrivate);
      await admin.hset(key, 'x|1', 'not json', 'x|2', '{"key":1,"meta":{}}', 'x|3', '{"key":"k","meta":[]}');
      expect(refs(await store.list(topic))).toEqual(['good']);
    });

    it('serves 10,000 entries in one read (one HVALS)', async () => {
      const [a, b] = [await started(), await started()];
      const topic = await channel();
      const payload = { name: 'someone', status: 'online', avatar: 'https://example.com/a.png' };
      for (let i = 0; i < 10_000; i += 500) {
        await Promise.all(
          Array.from({ length: 500 }, (_, j) =>
            (j % 2 ? a : b).track(topic, entry(`user-${i + j}`, `ref-${i + j}`, payload), null),
          ),
        );
      }
      const before = await hvalsCalls();
      const listed = await b.list(topic);
      expect(listed).toHaveLength(10_000);
      expect(new Set(listed.map((e) => e.meta['phx_ref'])).size).toBe(10_000);
      // Its speed is measured by the presence benchmark (BENCH=presence), not here.
      expect((await hvalsCalls()) - before).toBe(1);
    });
  });

  describe('leases', () => {
    it('a killed gateway’s entries are swept once, by one of two survivors, within lease + a sweep period', async () => {
      const [survivor1, survivor2] = [await started(), await started()];
      const deadId = uniqueName('dead');
      const dead = await started(deadId);
      const topics = [await channel(), await channel()];
      await dead.track(topics[0]!, entry('k', 'd1'), null);
      await dead.track(topics[0]!, entry('k', 'd2'), null);
      await dead.track(topics[1]!, entry('j', 'd3'), null);
      await survivor1.track(topics[0]!, entry('k', 's1'), null);
      await waitFor(() => diffsOf(topics[0]!).length === 3 && diffsOf(topics[1]!).length === 1);

      const killedAt = Date.now();
      dead.abandon();
      await waitFor(async () => refs(await survivor2.list(topics[0]!)).join() === 's1', {
        timeoutMs: LEASE_MS + SWEEP_PERIOD_MS + 1000,
        message: 'the dead gateway’s entries to be swept',
      });
      await waitFor(async () => (await survivor2.list(topics[1]!)).length === 0);
      const leaves = (topic: { bus: string }) =>
        diffsOf(topic).filter((d) => Object.keys(d.leaves).length > 0);
      await waitFor(() => leaves(topics[0]!).length >= 1 && leaves(topics[1]!).length >= 1);
      const sweptAt = Math.max(...[...leaves(topics[0]!), ...leaves(topics[1]!)].map((d) => d.atMs));
      expect(sweptAt - killedAt).toBeLessThanOrEqual(LEASE_MS + SWEEP_PERIOD_MS + 100);
      // Another two sweep periods: a second survivor must not publish the leaves again.
      await new Promise((resolve) => setTimeout(resolve, 2 * SWEEP_PERIOD_MS));
      expect(leaves(topics[0]!)).toHaveLength(1);
      expect(leaves(topics[1]!)).toHaveLength(1);
      const [l0, l1] = [leaves(topics[0]!)[0]!, leaves(topics[1]!)[0]!];
      expect(l0.joins).toEqual({});
      expect(l0.leaves['k']!.metas.map((m) => m['phx_ref']).sort()).toEqual(['d1', 'd2']);
      expect(l1.leaves).toEqual({ j: { metas: [{ phx_ref: 'd3' }] } });
      expect([survivor1, survivor2].map((s) => s.gatewayId)).toContain(l0.src);
      expect(await admin.zscore(keys.leasesKey, deadId)).toBeNull();
    });

    it('a gateway swept while alive (a stall) re-asserts its entries and tells its listeners', async () => {
      // A long lease: the victim neither renews nor sweeps during the test, as if its loop stalled.
      const victim = open(uniqueName('victim'), 30_000);
      victim.start();
      await waitFor(async () => (await admin.zscore(keys.leasesKey, victim.gatewayId)) !== null);
      const resyncs: PresenceTopic[][] = [];
      victim.onResync((t) => resyncs.push(t));
      const topic = await channel();
      await victim.track(topic, entry('k', 'r1'), null);
      await admin.zadd(keys.leasesKey, 0, victim.gatewayId); // its lease lapses
      const survivor = await started();
      await waitFor(() => diffsOf(topic).some((d) => d.leaves['k'] !== undefined), {
        timeoutMs: 3000,
        message: 'the survivor to sweep the victim',
      });
      expect(await survivor.list(topic)).toEqual([]);

      // The victim's next command finds its lease gone: it restores it and re-asserts.
      await victim.track(topic, entry('j', 'r2'), null);
      await waitFor(() => resyncs.length > 0, { timeoutMs: 3000, message: 'onResync' });
      expect(resyncs[0]).toEqual([{ subtopic: topic.subtopic, isPrivate: false }]);
      expect(refs(await survivor.list(topic))).toEqual(['r1', 'r2']);
      // After the survivor's leave of r1, the victim's re-assert joins r1 again.
      const leaveAt = diffsOf(topic).findIndex((d) => d.leaves['k'] !== undefined);
      await waitFor(
        () =>
          diffsOf(topic)
            .slice(leaveAt + 1)
            .some((d) => d.joins['k'] !== undefined),
        {
          message: 'r1 to join again',
        },
      );
      expect(await admin.zscore(keys.leasesKey, victim.gatewayId)).not.toBeNull();
    });
  });

  describe('stop', () => {
    it('removes this gateway’s entries, publishes their leaves and gives up the lease', async () => {
      const [a, b] = [await started(), await started()];
      const id = a.gatewayId;
      const topic = await channel();
      await a.track(topic, entry('k', 'a1'), null);
      await a.track(topic, entry('k', 'a2'), null);
      await b.track(topic, entry('k', 'b1'), null);
      await a.stop();
      expect(refs(await b.list(topic))).toEqual(['b1']);
      await waitFor(() => diffsOf(topic).length === 4);
      const leave = diffsOf(topic)[3]!;
      expect(leave.joins).toEqual({});
      expect(leave.leaves['k']!.metas.map((m) => m['phx_ref']).sort()).toEqual(['a1', 'a2']);
      expect(await admin.zscore(keys.leasesKey, id)).toBeNull();
      await expect(a.track(topic, entry('k', 'a3'), null)).rejects.toMatchObject({
        code: 'PresenceUnavailable',
      });
    });
  });

  if (name === 'one Redis') {
    describe('Redis restart (one Redis)', () => {
      afterEach(async () => {
        await backends.redis.start(); // whatever the test left
      });

      it('rejects tracks while Redis is down, then every gateway re-asserts and onResync fires', async () => {
        const [a, b] = [await started(), await started()];
        const resyncs: PresenceTopic[][] = [];
        a.onResync((t) => resyncs.push(t));
        const topic = await channel();
        await a.track(topic, entry('k', 'a1'), null);
        await b.track(topic, entry('j', 'b1'), null);
        const before = await a.list(topic);

        await backends.redis.stop();
        await expect(a.track(topic, entry('k', 'a2'), null)).rejects.toMatchObject({
          code: 'PresenceUnavailable',
        });
        await expect(a.list(topic)).rejects.toMatchObject({ code: 'PresenceUnavailable' });
        await backends.redis.start(); // empty: nothing is persisted
        await subscribe(topic.bus); // the test subscriber's own resubscription, to see the joins

        await waitFor(
          async () =>
            refs(await admin.hvals(keys.stateKey(topic.subtopic, false)).then(parse)).join() === 'a1,b1',
          {
            timeoutMs: 10_000,
            message: 'both gateways to re-assert their entries',
          },
        );
        await waitFor(() => resyncs.length > 0, { message: 'onResync' });
        expect(resyncs[0]).toEqual([{ subtopic: topic.subtopic, isPrivate: false }]);
        expect(refs(await a.list(topic))).toEqual(refs(before)); // no a2 (it failed), no duplicates
        await a.track(topic, entry('k', 'a3'), null);
        expect(refs(await b.list(topic))).toEqual(['a1', 'a3', 'b1']);
      });
    });
  } else {
    describe('a master restarted empty (Redis Cluster)', () => {
      it('rejects tracks while it is down, then every gateway re-asserts and onResync fires', async () => {
        const [a, b] = [await started(), await started()];
        const resyncs: PresenceTopic[][] = [];
        a.onResync((t) => resyncs.push(t));
        // b has no failed command: only finding the restarted master again makes it re-assert.
        const resyncsOfB: PresenceTopic[][] = [];
        b.onResync((t) => resyncsOfB.push(t));
        const topic = await channel();
        await a.track(topic, entry('k', 'a1'), null);
        await b.track(topic, entry('j', 'b1'), null);
        const master = await cluster.masterOf(hashSlot(topic.bus));

        await master.kill();
        await expect(a.track(topic, entry('k', 'a2'), null)).rejects.toMatchObject({
          code: 'PresenceUnavailable',
        });
        await master.start(); // empty: nothing is persisted; it keeps its slots
        await cluster.waitUntilHealthy();

        await waitFor(
          async () =>
            refs(await admin.hvals(keys.stateKey(topic.subtopic, false)).then(parse)).join() === 'a1,b1',
          // The cluster clients find the restarted master again with backoff: slower on a busy box.
          { timeoutMs: 30_000, message: 'both gateways to re-assert their entries' },
        );
        await waitFor(() => resyncs.length > 0 && resyncsOfB.length > 0, { message: 'onResync of both' });
        expect(resyncs[0]).toEqual([{ subtopic: topic.subtopic, isPrivate: false }]);
        expect(resyncsOfB[0]).toEqual([{ subtopic: topic.subtopic, isPrivate: false }]);
        await a.track(topic, entry('k', 'a3'), null);
        expect(refs(await b.list(topic))).toEqual(['a1', 'a3', 'b1']);
      });
    });
  }
});

/** HVALS calls so far on every master (only list() sends HVALS). */
async function hvalsCalls(): Promise<number> {
  const commands: unknown = admin;
  const nodes = commands instanceof Cluster ? commands.nodes('master') : [admin];
  let calls = 0;
  for (const node of nodes) {
    const stats = await node.info('commandstats');
    calls += Number(/^cmdstat_hvals:calls=(\d+)/m.exec(stats)?.[1] ?? 0);
  }
  return calls;
}

function parse(values: string[]): PresenceEntry[] {
  return values.map((v) => JSON.parse(v) as PresenceEntry);
}
