/**
 * Redis Cluster: the whole pipeline (PostgreSQL → ingester → Redis → CLUSTER_GATEWAYS gateways, 4
 * by default → websocket clients) on one Redis (the baseline), on a Redis Cluster of 1 master and
 * on one of 3 masters (REDIS_CLUSTER_NODES: sharded pub/sub), in the same run. Reports publishes/s
 * (ingester → Redis) and deliveries/s (to the clients), as ratios to the one Redis.
 *
 * Six tables `public.c…`, chosen so that their topics hash to two tables per shard of the 3-master
 * cluster; CLUSTER_SOCKETS clients per table (legacy join on `realtime:public:<table>`), spread over
 * the gateways, one client process per table. A repetition writes CLUSTER_ROWS rows to every
 * table in one transaction; the clock starts when the COMMIT returns. Publishes/s: rows ÷ (time
 * until the ingester's `changes_published_total` counted them all). Deliveries/s: rows × sockets ÷
 * (time until every client received its rows).
 *
 * Each round starts every configuration afresh, one after the other (so the box's load is shared
 * out alike); the figures are medians of CLUSTER_REPEATS rounds. CPU seconds of Redis (all nodes,
 * from INFO), the ingester and the gateways are printed per repetition: they make the capacity model
 * in docs/performance.md. The number of gateways is how many subscribers Redis sends each change to.
 */
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { LocalPostgres, LocalRedis, LocalRedisCluster, freePort } from '@walcast/local-services';
import { hashSlot } from '@walcast/protocol';
import type { ServiceProcess } from '@walcast/test-utils';
import { startIngester } from './ingest-consumers';
import { ClientFleet } from './load-clients';
import { profileArgs, startGateway, type Server } from './servers';
import { epochMs, median, procCpuSeconds, sleep, topicForTable, type ResultRow } from './util';

const ROWS = Number(process.env['CLUSTER_ROWS'] ?? '4000'); // per table and repetition
const SOCKETS = Number(process.env['CLUSTER_SOCKETS'] ?? '40'); // per table
const REPEATS = Number(process.env['CLUSTER_REPEATS'] ?? '3');
const GATEWAYS = Number(process.env['CLUSTER_GATEWAYS'] ?? '4');
const gatewaysText = `${GATEWAYS} gateway${GATEWAYS === 1 ? '' : 's'}`;
const SHARDS = 3;
const TABLES_PER_SHARD = 2;
const WARMUP_ROWS = 20;
const TIMEOUT_MS = 120_000;
/**
 * How often the ingester's metrics are read while it publishes: each read costs it CPU (prom-client
 * collects process metrics), 5 ms polling was ~10% of its profile on a cluster.
 */
const POLL_MS = 25;

type Config = 'single' | 'cluster-1' | 'cluster-3';
const CONFIGS: Config[] = ['single', 'cluster-1', 'cluster-3'];
const LABEL: Record<Config, string> = {
  single: 'one Redis',
  'cluster-1': 'Redis Cluster, 1 master',
  'cluster-3': 'Redis Cluster, 3 masters',
};

/** Table names `c<i>` whose topics fall evenly on the shards of an evenly split 3-master cluster. */
function spreadTables(): string[] {
  const perShard = new Map<number, string[]>();
  const tables: string[] = [];
  for (let i = 0; tables.length < SHARDS * TABLES_PER_SHARD; i++) {
    const name = `c${i}`;
    const slot = hashSlot(topicForTable('public', name));
    // LocalRedisCluster gives master i the slots from floor(i × 16384 / SHARDS) on
    let shard = SHARDS - 1;
    while (slot < Math.floor((shard * 16_384) / SHARDS)) shard--;
    const list = perShard.get(shard) ?? [];
    if (list.length >= TABLES_PER_SHARD) continue;
    list.push(name);
    perShard.set(shard, list);
    tables.push(name);
  }
  return tables;
}

/** One configuration's Redis: where the services are pointed and every node's URL (for INFO). */
interface RedisUnderTest {
  env: Record<string, string>;
  nodeUrls: string[];
  destroy(): Promise<void>;
}

async function startRedis(config: Config): Promise<RedisUnderTest> {
  if (config === 'single') {
    const redis = await LocalRedis.start();
    return { env: { REDIS_URL: redis.url }, nodeUrls: [redis.url], destroy: () => redis.destroy() };
  }
  const cluster = await LocalRedisCluster.start({ masters: config === 'cluster-1' ? 1 : SHARDS });
  return {
    env: { REDIS_CLUSTER_NODES: cluster.seeds },
    nodeUrls: cluster.nodes.map((n) => n.url),
    destroy: () => cluster.destroy(),
  };
}

/** Redis's CPU seconds (main and I/O threads, all nodes), from INFO. */
async function redisCpuSeconds(urls: string[]): Promise<number> {
  let total = 0;
  for (const url of urls) {
    const admin = new Redis(url);
    try {
      const info = await admin.info('cpu');
      const field = (name: string): number => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1]);
      total += field('used_cpu_user') + field('used_cpu_sys');
    } finally {
      admin.disconnect();
    }
  }
  return total;
}

async function publishedTotal(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith('walcast_ingester_changes_published_total'));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

interface Rep {
  publishesPerS: number;
  deliveriesPerS: number;
  redisCpuS: number;
  ingesterCpuS: number;
  gatewayCpuS: number;
}

/** A running stack on one configuration: ingester, gateways and the clients of every table. */
interface Stack {
  redis: RedisUnderTest;
  ingester: ServiceProcess;
  metricsUrl: string;
  gateways: Server[];
  fleets: ClientFleet[];
  slot: string;
}

let slotCounter = 0;

async function startStack(config: Config, pgUrl: string, tables: string[]): Promise<Stack> {
  const redis = await startRedis(config);
  const metricsPort = await freePort();
  const slot = `walcast_cluster_bench_${slotCounter++}`;
  const redisUrl = redis.env['REDIS_URL'] ?? '';
  const ingester = await startIngester(
    pgUrl,
    redisUrl,
    {
      ...redis.env,
      SLOT_NAME: slot,
      METRICS_PORT: String(metricsPort),
    },
    profileArgs(),
  );
  await ingester.waitForReady();
  const gateways: Server[] = [];
  for (let i = 0; i < GATEWAYS; i++) gateways.push(await startGateway(redisUrl, profileArgs(), redis.env));
  const fleets = tables.map((t, i) =>
    ClientFleet.start(
      gateways.map((g) => g.url),
      SOCKETS,
      1,
      `realtime:public:${t}`,
      i,
    ),
  );
  for (const fleet of fleets) await fleet.connect();
  return { redis, ingester, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, gateways, fleets, slot };
}

async function stopStack(stack: Stack, db: Client): Promise<void> {
  for (const fleet of stack.fleets) fleet.stop();
  for (const g of stack.gateways) await g.stop().catch(() => undefined);
  await stack.ingester.stop().catch(() => undefined);
  await stack.redis.destroy().catch(() => undefined);
  await db.query(`select pg_drop_replication_slot($1)`, [stack.slot]).catch(() => undefined);
}

/** Writes `rows` rows to every table in one transaction; resolves with the measurements once delivered. */
async function writeAndTime(db: Client, stack: Stack, tables: string[], rows: number): Promise<Rep> {
  for (const fleet of stack.fleets) for (const p of fleet.procs) p.send({ cmd: 'expect', perSocket: rows });
  await sleep(100);
  const dones = stack.fleets.flatMap((f) => f.procs.map((p) => p.next('done', TIMEOUT_MS)));
  const published0 = await publishedTotal(stack.metricsUrl);
  const pids = { ingester: stack.ingester.pid, gateways: stack.gateways.map((g) => g.pid) };
  const cpu0 = {
    redis: await redisCpuSeconds(stack.redis.nodeUrls),
    ingester: procCpuSeconds(pids.ingester),
    gateways: pids.gateways.map(procCpuSeconds),
  };
  await db.query('begin');
  for (const t of tables) {
    await db.query(`insert into public.${t} (v) select 'row ' || g from generate_series(1, ${rows}) g`);
  }
  await db.query('commit');
  const t0 = epochMs();
  let publishedAt = NaN;
  let published = published0;
  const expected = published0 + rows * tables.length;
  const polling = (async () => {
    const deadline = t0 + TIMEOUT_MS;
    while (epochMs() < deadline) {
      published = await publishedTotal(stack.metricsUrl);
      if (published >= expected) {
        publishedAt = epochMs();
        return;
      }
      await sleep(POLL_MS);
    }
  })();
  let results: Array<Record<string, unknown>>;
  try {
    results = await Promise.all(dones);
  } catch (err) {
    const reports = await Promise.all(
      stack.fleets.map((f) => f.ask({ cmd: 'report' }, 'report', 5000).catch(() => [])),
    );
    const got = reports.flat().map((r) => String(r['received']));
    throw new Error(`${String(err)}; received ${got.join('+')}; published ${published - published0}`);
  }
  await polling;
  const deliveredAt = Math.max(...results.map((r) => Number(r['at'])));
  const received = results.reduce((a, r) => a + Number(r['received']), 0);
  return {
    publishesPerS: (rows * tables.length) / ((publishedAt - t0) / 1000),
    deliveriesPerS: received / ((deliveredAt - t0) / 1000),
    redisCpuS: (await redisCpuSeconds(stack.redis.nodeUrls)) - cpu0.redis,
    ingesterCpuS: procCpuSeconds(pids.ingester) - cpu0.ingester,
    gatewayCpuS: pids.gateways.reduce((a, pid, i) => a + procCpuSeconds(pid) - cpu0.gateways[i]!, 0),
  };
}

function describe(config: Config, round: number, rep: Rep, tables: number): string {
  const changes = ROWS * tables;
  const deliveries = changes * SOCKETS;
  return (
    `  cluster ${LABEL[config]} #${round + 1}: ${changes} changes to ${tables * SOCKETS} sockets → ` +
    `${Math.round(rep.publishesPerS)} publishes/s, ${Math.round(rep.deliveriesPerS)} deliveries/s; CPU: Redis ` +
    `${rep.redisCpuS.toFixed(2)} s (${((rep.redisCpuS / changes) * 1e6).toFixed(1)} µs/change), ingester ` +
    `${rep.ingesterCpuS.toFixed(2)} s (${((rep.ingesterCpuS / changes) * 1e6).toFixed(1)} µs/change), ` +
    `${gatewaysText} ${rep.gatewayCpuS.toFixed(2)} s (${((rep.gatewayCpuS / deliveries) * 1e6).toFixed(2)} µs/delivery)`
  );
}

export async function benchCluster(): Promise<ResultRow[]> {
  const tables = spreadTables();
  const pg = await LocalPostgres.start();
  const db = new Client({ connectionString: pg.url });
  const reps = new Map<Config, Rep[]>(CONFIGS.map((c) => [c, []]));
  try {
    await db.connect();
    for (const t of tables) await db.query(`create table public.${t} (id bigserial primary key, v text)`);
    await db.query(`create publication supabase_realtime for all tables`);
    for (let round = 0; round < REPEATS; round++) {
      for (const config of CONFIGS) {
        const stack = await startStack(config, pg.url, tables);
        try {
          await writeAndTime(db, stack, tables, WARMUP_ROWS); // not measured
          const rep = await writeAndTime(db, stack, tables, ROWS);
          reps.get(config)!.push(rep);
          console.log(describe(config, round, rep, tables.length));
        } finally {
          await stopStack(stack, db);
        }
      }
    }
  } finally {
    await db.end().catch(() => undefined);
    await pg.destroy().catch(() => undefined);
  }
  const base = reps.get('single')!;
  const rows: ResultRow[] = [];
  const what = `${tables.length} tables × ${ROWS} rows in one transaction, ${gatewaysText}, ${tables.length * SOCKETS} sockets`;
  for (const config of ['cluster-1', 'cluster-3'] as const) {
    const mine = reps.get(config)!;
    for (const [unit, pick] of [
      ['publishes/s', (r: Rep) => r.publishesPerS],
      ['deliveries/s', (r: Rep) => r.deliveriesPerS],
    ] as const) {
      rows.push({
        benchmark: `cluster: ${LABEL[config]}, ${unit === 'publishes/s' ? 'ingester → Redis' : 'to websocket clients'} (${what})`,
        unit,
        figure: median(mine.map(pick)),
        baselineName: 'one Redis (REDIS_URL), same run',
        baseline: median(base.map(pick)),
        samples: mine.map(pick),
        baselineSamples: base.map(pick),
      });
    }
    const changes = ROWS * tables.length;
    const cpuRows: Array<[string, (r: Rep) => number]> = [
      [
        `Redis CPU per change (all nodes; publish and ${GATEWAYS} subscriber${GATEWAYS === 1 ? '' : 's'})`,
        (r) => (r.redisCpuS / changes) * 1e6,
      ],
      ['ingester CPU per change', (r) => (r.ingesterCpuS / changes) * 1e6],
      [`gateway CPU per delivery (${gatewaysText})`, (r) => (r.gatewayCpuS / (changes * SOCKETS)) * 1e6],
    ];
    for (const [name, pick] of cpuRows) {
      rows.push({
        benchmark: `cluster: ${LABEL[config]}, ${name}`,
        unit: 'µs',
        figure: median(mine.map(pick)),
        baselineName: 'one Redis',
        baseline: median(base.map(pick)),
        samples: mine.map(pick),
        baselineSamples: base.map(pick),
        better: 'lower',
        digits: name.startsWith('gateway') ? 2 : 1,
      });
    }
  }
  return rows;
}
