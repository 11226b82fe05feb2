// The ingester on a Redis Cluster of three shards (REDIS_CLUSTER_NODES): each change goes to its
// table topic's shard (and its fan-in channels' shards), and I1 holds across shards: while one shard
// cannot take writes, changes for the others are published, but no position after the held change
// is confirmed to PostgreSQL until that shard has accepted it.
import { RedisClusterBus, type ClusterSeeds } from '@walcast/bus';
import { createLogger } from '@walcast/logger';
import { FAN_IN_ALL_CHANNEL, fanInChannelForSchema, hashSlot, topicForTable } from '@walcast/protocol';
import {
  queryRedis,
  sql,
  startBackends,
  waitFor,
  WalcastStack,
  type Backends,
  type LocalRedisCluster,
} from '@walcast/test-utils';

import { confirmedLsn, currentWalLsn } from './support';

jest.setTimeout(60_000);

const PAUSE_MS = 4000;

let backends: Backends;
let cluster: LocalRedisCluster;
let stack: WalcastStack;
let sub: RedisClusterBus;
const received: Array<{ topic: string; message: string }> = [];
/** `held` lives on the shard that is paused; `free` on another, and no fan-in channel on the paused one. */
let held: string;
let free: string;

beforeAll(async () => {
  backends = await startBackends({ redisCluster: { masters: 3 } });
  cluster = backends.redisCluster!;
  const fanIns = await Promise.all(
    [fanInChannelForSchema('public'), FAN_IN_ALL_CHANNEL].map((c) => cluster.masterOf(hashSlot(c))),
  );
  const paused = (await cluster.masters()).find((m) => !fanIns.includes(m))!;
  for (let i = 0; !held || !free; i++) {
    const owner = await cluster.masterOf(hashSlot(topicForTable('public', `t${i}`)));
    if (owner === paused) held ??= `t${i}`;
    else free ??= `t${i}`;
  }
  await sql(
    backends.pg.url,
    `create table public.${held} (id int primary key)`,
    `create table public.${free} (id int primary key)`,
    'create publication supabase_realtime for all tables',
  );
  stack = await WalcastStack.start(backends, { gateways: 0, ingesterEnv: { STATUS_INTERVAL: '200ms' } });
  const seeds: ClusterSeeds = {
    nodes: cluster.nodes.map((n) => ({ host: n.host, port: n.port })),
    tls: false,
  };
  sub = new RedisClusterBus({
    cluster: seeds,
    name: 'ingester-test',
    log: createLogger({ service: 'ingester', level: 'silent', version: 'test' }),
  });
  sub.onMessage((_via, topic, message) => received.push({ topic, message }));
  for (const table of [held, free]) await sub.subscribe({ topic: topicForTable('public', table) });
});

afterAll(async () => {
  await sub?.close();
  await stack?.stop();
  await backends?.stop();
});

const of = (table: string): number =>
  received.filter((r) => r.topic === topicForTable('public', table)).length;

describe('I1 across shards', () => {
  it('publishes to the shards that take writes, and confirms nothing past a change a shard has not accepted', async () => {
    await sql(backends.pg.url, `insert into ${held} values (0)`, `insert into ${free} values (0)`);
    await waitFor(() => of(held) === 1 && of(free) === 1, { message: 'the warm-up rows' });
    const caughtUp = await currentWalLsn(backends.pg.url);
    await waitFor(async () => (await confirmedLsn(backends.pg.url)) >= caughtUp, {
      message: 'the warm-up confirmed',
    });

    const paused = await cluster.masterOf(hashSlot(topicForTable('public', held)));
    expect(
      await queryRedis({
        host: paused.host,
        port: paused.port,
        args: ['CLIENT', 'PAUSE', String(PAUSE_MS), 'WRITE'],
      }),
    ).toBe('OK');
    const pausedAt = Date.now();
    const beforeHeld = await currentWalLsn(backends.pg.url);
    await sql(backends.pg.url, `insert into ${held} values (1)`);
    await sql(backends.pg.url, `insert into ${free} values (1)`);
    const afterBoth = await currentWalLsn(backends.pg.url);

    // The other shard took its change; the slot stays before the held one meanwhile.
    await waitFor(() => of(free) === 2, { message: 'the change for the shard that takes writes' });
    const confirmedWhileHeld: bigint[] = [];
    while (Date.now() - pausedAt < PAUSE_MS - 1000) {
      confirmedWhileHeld.push(await confirmedLsn(backends.pg.url));
      await new Promise((r) => setTimeout(r, 100)); // sampling the slot over the pause is the test
    }
    expect(of(held)).toBe(1);
    expect(confirmedWhileHeld.length).toBeGreaterThan(10);
    expect(confirmedWhileHeld.every((lsn) => lsn <= beforeHeld)).toBe(true);

    // Once the shard takes writes again, the held change arrives and the slot passes both.
    await waitFor(() => of(held) === 2, { timeoutMs: PAUSE_MS + 5000, message: 'the held change' });
    await waitFor(async () => (await confirmedLsn(backends.pg.url)) >= afterBoth, {
      message: 'the slot confirmed past both changes',
    });
  });
});
