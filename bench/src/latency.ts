/**
 * Latency: commit → websocket client receipt, p50 and p99, through the real pipeline (PostgreSQL →
 * ingester → Redis → two gateways → clients), for (a) 1,000 changes/s each reaching 100 clients and
 * (b) 100 changes/s each reaching 1,000 clients (clients split evenly over the two gateways, all
 * joined to `realtime:public:lat`).
 *
 * Each change is its own transaction, committed by a PostgreSQL procedure that paces itself to the
 * rate; the row's `t_ms` column is `clock_timestamp()` at the INSERT (epoch ms), a few microseconds
 * before its commit. Receivers subtract it from their own clock (same machine).
 *
 * Baseline, same changes, same run: a plain Redis subscriber on the table's bus topic (in the
 * driver process) measures commit → Redis receipt, i.e. the pipeline without the gateway hop and
 * the websocket. The ratio shows what the gateway and the websocket add.
 *
 * Where the time goes, per repetition (stage-metrics.ts): commit → Redis accepted (the ingester's
 * `commit_to_publish` histogram), ingester publish → frames handed to uWS (the gateways'
 * `publish_to_send`), and commit → Redis subscriber (the baseline); what remains of commit →
 * client is the sockets, the kernel and the client processes.
 */
import { Redis } from 'ioredis';
import { Client } from 'pg';
import { LocalPostgres, LocalRedis, freePort } from '@walcast/local-services';
import { startIngester } from './ingest-consumers';
import { ClientFleet } from './load-clients';
import { startGateway, type Server } from './servers';
import { bound, bucketPercentile, scrapeHistogram, sumBuckets, type Buckets } from './stage-metrics';
import {
  LatencyHistogram,
  epochMs,
  median,
  nowMs,
  procCpuSeconds,
  procRunDelaySeconds,
  sleep,
  topicForTable,
  type ResultRow,
} from './util';

const REPEATS = 3;
const SECONDS = Number(process.env['LATENCY_SECONDS'] ?? '5');
const CHANNEL = 'realtime:public:lat';
const SCENARIOS = [
  { name: '(a) 1,000 changes/s × 100 clients', rate: 1000, clients: 100 },
  { name: '(b) 100 changes/s × 1,000 clients', rate: 100, clients: 1000 },
];
const CLIENT_PROCS = 2;
const WARMUP_S = 3;

const SCHEMA = `
  create table lat (id bigserial primary key,
    t_ms double precision not null default (extract(epoch from clock_timestamp()) * 1000), pad text);
  create publication supabase_realtime for table lat;
  create procedure paced(cnt int, per_s int) language plpgsql as $$
  declare
    t0 double precision := extract(epoch from clock_timestamp());
    ahead double precision;
  begin
    for i in 1..cnt loop
      insert into lat (pad) values ('latency probe');
      commit;
      ahead := t0 + i::double precision / per_s - extract(epoch from clock_timestamp());
      if ahead > 0 then perform pg_sleep(ahead); end if;
    end loop;
  end $$;`;

/** Epoch ms in a frame or bus message: the value after `"t_ms":`. */
function tMs(text: string): number {
  const at = text.indexOf('"t_ms":');
  return at < 0 ? NaN : parseFloat(text.slice(at + 7, at + 40));
}

interface Rep {
  p50: number;
  p99: number;
  redisP50: number;
  redisP99: number;
  /** Stage percentiles (ms, bucket bounds): commit → Redis accepted, publish → gateway send. */
  commitToPublishP99: number;
  publishToSendP99: number;
}

/** Metrics endpoints of the ingester and the gateways. */
interface Endpoints {
  ingester: string;
  gateways: string[];
}

async function stageBuckets(urls: Endpoints): Promise<{ ingest: Buckets; gateways: Buckets }> {
  const [ingest, ...gateways] = await Promise.all([
    scrapeHistogram(urls.ingester, 'walcast_ingester_commit_to_publish_seconds'),
    ...urls.gateways.map((u) => scrapeHistogram(u, 'walcast_gateway_publish_to_send_seconds')),
  ]);
  return { ingest: ingest, gateways: sumBuckets(gateways) };
}

async function runScenario(
  db: Client,
  fleet: ClientFleet,
  redisHist: { current: LatencyHistogram | null },
  rate: number,
  clients: number,
  pids: number[],
  endpoints: Endpoints,
): Promise<Rep> {
  for (const p of fleet.procs) p.send({ cmd: 'latency' });
  redisHist.current = new LatencyHistogram();
  await sleep(100);
  const changes = rate * SECONDS;
  const clientPids = fleet.procs.map((p) => p.pid);
  const cpu0 = pids.map(procCpuSeconds);
  const wait0 = [...pids, ...clientPids].map(procRunDelaySeconds);
  const stages0 = await stageBuckets(endpoints);
  const t0 = nowMs();
  await db.query(`call paced(${changes}, ${rate})`);
  const wallS = (nowMs() - t0) / 1000;
  const busy = pids.map((pid, i) => `${(((procCpuSeconds(pid) - cpu0[i]!) / wallS) * 100).toFixed(0)}%`);
  const waited = [...pids, ...clientPids].map(
    (pid, i) => `${(((procRunDelaySeconds(pid) - wait0[i]!) / wallS) * 100).toFixed(0)}%`,
  );
  await sleep(500); // the last changes arrive
  const stages1 = await stageBuckets(endpoints);
  const reports = await fleet.ask({ cmd: 'report' }, 'report', 10_000);
  const hist = new LatencyHistogram();
  for (const r of reports) hist.merge(r['histogram'] as Array<[number, number]>);
  const redis = redisHist.current;
  redisHist.current = null;
  const cpu = reports.map((r) => Number(r['cpuS']) / (wallS + 0.6));
  if (hist.count !== changes * clients || redis.count !== changes) {
    console.warn(`  note: ${hist.count}/${changes * clients} frames, ${redis.count}/${changes} on Redis`);
  }
  // frames still missing count as slower than anything measured, so they can only raise percentiles
  hist.add(Infinity, Math.max(0, changes * clients - hist.count));
  redis.add(Infinity, Math.max(0, changes - redis.count));
  const rep = {
    p50: hist.percentile(50),
    p99: hist.percentile(99),
    redisP50: redis.percentile(50),
    redisP99: redis.percentile(99),
    commitToPublishP99: bucketPercentile(stages0.ingest, stages1.ingest, 99),
    publishToSendP99: bucketPercentile(stages0.gateways, stages1.gateways, 99),
  };
  console.log(
    `  latency ${rate}/s × ${clients}: ${changes} changes in ${wallS.toFixed(2)} s; clients p50 ${rep.p50.toFixed(1)} ms, ` +
      `p99 ${rep.p99.toFixed(1)} ms, max bucket ${hist.percentile(100).toFixed(1)} ms; Redis p50 ${rep.redisP50.toFixed(1)} ms, ` +
      `p99 ${rep.redisP99.toFixed(1)} ms; client processes busy ${cpu.map((c) => `${(c * 100).toFixed(0)}%`).join(' + ')}; ` +
      `ingester, gateways busy ${busy.join(', ')}; waiting for a CPU (ingester, gateways, clients) ${waited.join(', ')}`,
  );
  console.log(
    `    where the time goes, p50 / p99 (ms): commit → Redis accepted ` +
      `${bound(bucketPercentile(stages0.ingest, stages1.ingest, 50))} / ${bound(rep.commitToPublishP99)}; ` +
      `commit → Redis subscriber ${rep.redisP50.toFixed(1)} / ${rep.redisP99.toFixed(1)}; ` +
      `ingester publish → gateway send ${bound(bucketPercentile(stages0.gateways, stages1.gateways, 50))} / ` +
      `${bound(rep.publishToSendP99)}; commit → client ${rep.p50.toFixed(1)} / ${rep.p99.toFixed(1)}`,
  );
  return rep;
}

function rowsFor(name: string, reps: Rep[]): ResultRow[] {
  return (['50', '99'] as const).map((p) => {
    const walcast = reps.map((r) => (p === '50' ? r.p50 : r.p99));
    const base = reps.map((r) => (p === '50' ? r.redisP50 : r.redisP99));
    return {
      benchmark: `latency ${name}, 2 gateways, commit→client p${p}`,
      unit: 'ms',
      figure: median(walcast),
      baselineName: 'same changes, commit→Redis subscriber',
      baseline: median(base),
      samples: walcast,
      baselineSamples: base,
      better: 'lower' as const,
      digits: 1,
      ...(p === '99'
        ? {
            note:
              `target p99 < 25 ms; p99 commit→Redis accepted ${bound(median(reps.map((r) => r.commitToPublishP99)))} ms, ` +
              `publish→gateway send ${bound(median(reps.map((r) => r.publishToSendP99)))} ms`,
          }
        : {}),
    };
  });
}

export async function benchLatency(): Promise<ResultRow[]> {
  const pg = await LocalPostgres.start();
  const redis = await LocalRedis.start();
  const sub = new Redis(redis.url);
  const db = new Client({ connectionString: pg.url });
  const servers: Server[] = [];
  const rows: ResultRow[] = [];
  const ingesterMetricsPort = await freePort();
  const ingester = await (async () => {
    await db.connect();
    await db.query(SCHEMA);
    const ing = await startIngester(pg.url, redis.url, { METRICS_PORT: String(ingesterMetricsPort) });
    await ing.waitForReady();
    return ing;
  })();
  try {
    const redisHist: { current: LatencyHistogram | null } = { current: null };
    sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
      const now = epochMs();
      redisHist.current?.add(now - tMs(message.toString()));
    });
    await sub.subscribe(topicForTable('public', 'lat'));
    servers.push(await startGateway(redis.url), await startGateway(redis.url));
    const pids = [ingester.pid, ...servers.map((s) => s.pid)];
    const endpoints: Endpoints = {
      ingester: `http://127.0.0.1:${ingesterMetricsPort}/metrics`,
      gateways: servers.map((s) => `${new URL(s.url).origin.replace('ws:', 'http:')}/metrics`),
    };
    for (const scenario of SCENARIOS) {
      const fleet = ClientFleet.start(
        servers.map((s) => s.url),
        scenario.clients,
        CLIENT_PROCS,
        CHANNEL,
      );
      try {
        await fleet.connect();
        await db.query(`call paced(${scenario.rate * WARMUP_S}, ${scenario.rate})`); // not measured
        await sleep(300);
        const reps: Rep[] = [];
        for (let rep = 0; rep < REPEATS; rep++) {
          reps.push(
            await runScenario(db, fleet, redisHist, scenario.rate, scenario.clients, pids, endpoints),
          );
        }
        rows.push(...rowsFor(scenario.name, reps));
      } finally {
        fleet.stop();
      }
    }
  } finally {
    sub.disconnect();
    await db.end().catch(() => undefined);
    for (const s of servers) await s.stop().catch(() => undefined);
    await ingester.stop().catch(() => undefined);
    await pg.destroy().catch(() => undefined);
    await redis.destroy().catch(() => undefined);
  }
  return rows;
}
