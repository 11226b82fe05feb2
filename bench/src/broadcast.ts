/**
 * Broadcast: clients of two gateways joined to one modern channel, `realtime:bench-broadcast`, with
 * `config.broadcast` {self: false, ack: false}; a sender with one socket on each gateway pushes, taking
 * turns, so half of each message's subscribers are on the sender's gateway (local delivery) and half on
 * the other (through Redis). For 1,000 and 10,000 subscribers (BROADCAST_SUBSCRIBERS), split evenly
 * over the gateways, in two encodings: vsn 1.0.0 JSON pushes (text frames out) and vsn 2.0.0 binary
 * kind 3 (kind 4 out). Per scenario, 3 repetitions of each:
 *
 * - throughput: messages offered at BROADCAST_RATE (default 5,000/s, i.e. faster than either server
 *   delivers them); messages/s and deliveries/s = what the subscribers counted ÷ (last receipt − first
 *   send);
 * - latency: messages at 100,000 deliveries/s (100/s to 1,000 subscribers, 10/s to 10,000) for
 *   BROADCAST_LATENCY_SECONDS (default 1), the receipts awaited for up to 2 s more; send → receive
 *   p50/p99 from the `t_ms` stamp in the payload.
 *
 * Baseline, same run, same clients and sender: two `ws` servers (baselines/ws-fanout-server.ts) that
 * relay each pushed message to every other joined client and, through one Redis channel, to the other
 * server's. Subscribers are raw `ws` sockets in forked processes (load-clients.ts).
 */
import { LocalRedis } from '@walcast/local-services';
import { BroadcastSender, broadcastJoinPayload, withVsn, type BroadcastVsn } from './broadcast-sender';
import { ClientFleet } from './load-clients';
import { startGateway, startWsBaseline, type Server } from './servers';
import {
  LatencyHistogram,
  median,
  procCpuSeconds,
  procRunDelaySeconds,
  sleep,
  topicForTable,
  type ResultRow,
} from './util';

const CHANNEL = 'realtime:bench-broadcast';
const REPEATS = Number(process.env['BROADCAST_REPEATS'] ?? '3');
const RATE = Number(process.env['BROADCAST_RATE'] ?? '5000');
const LATENCY_DELIVERIES_PER_S = 100_000;
const LATENCY_SECONDS = Number(process.env['BROADCAST_LATENCY_SECONDS'] ?? '1');
/** How long after the last latency probe the clients may still be catching up (later: missing). */
const LATE_WAIT_MS = 2000;
const DELIVERY_TIMEOUT_MS = 60_000;
/** Sends and receipts before the measured repetitions (JIT, connections, buffers). */
const WARMUP_MESSAGES = 5;
/**
 * BROADCAST_SELF=true: the senders join with `self: true`, so the gateway delivers their messages
 * locally without leaving the sender out (uWS `app.publish` instead of the sender's `ws.publish`);
 * the senders then receive their own messages too (not counted). The `ws` baseline is unchanged.
 */
const SELF = process.env['BROADCAST_SELF'] === 'true';
const SIZES = (process.env['BROADCAST_SUBSCRIBERS'] ?? '1000,10000').split(',').map(Number);
/** Deliveries per throughput repetition: enough to last ~1–3 s at each server's rate. */
const DELIVERIES = { gateway: 600_000, ws: 120_000 };
const ENCODINGS: Array<{ vsn: BroadcastVsn; label: string }> = [
  { vsn: '1.0.0' as const, label: 'vsn 1.0.0 JSON' },
  { vsn: '2.0.0' as const, label: 'vsn 2.0.0 binary kind 3→4' },
].filter((e) => (process.env['BROADCAST_VSN'] ?? '1.0.0,2.0.0').split(',').includes(e.vsn));

/** Two servers of one kind, fed by one Redis. */
interface Pair {
  kind: 'gateway' | 'ws';
  name: string;
  servers: Server[];
}

interface Throughput {
  messagesPerS: number;
  deliveriesPerS: number;
  perCpuS: number;
}

interface Latency {
  p50: number;
  p99: number;
}

interface ScenarioResult {
  throughput: Throughput[];
  latency: Latency[];
}

async function startPair(kind: Pair['kind'], redisUrl: string): Promise<Pair> {
  const start = (): Promise<Server> =>
    kind === 'gateway'
      ? startGateway(redisUrl, undefined, {
          MAX_CHANNEL_BROADCASTS_PER_SECOND: '1000000',
          MAX_SOCKET_BROADCASTS_PER_SECOND: '1000000',
        })
      : startWsBaseline(redisUrl, topicForTable('public', 'unused'), CHANNEL, 'bench:broadcast');
  const servers = [await start(), await start()];
  return {
    kind,
    name: kind === 'gateway' ? '2 walcast gateways' : '2 `ws` servers',
    servers,
  };
}

function serverCpu(pair: Pair): number {
  return pair.servers.reduce((a, s) => a + procCpuSeconds(s.pid), 0);
}

async function throughputRep(
  pair: Pair,
  fleet: ClientFleet,
  sender: BroadcastSender,
  messages: number,
): Promise<Throughput> {
  for (const c of fleet.procs) c.send({ cmd: 'expect', perSocket: messages });
  await sleep(100); // let the children take the command
  const cpu0 = serverCpu(pair);
  const dones = fleet.procs.map((c) => c.next('done', DELIVERY_TIMEOUT_MS + (messages * 1000) / RATE));
  const t0 = await sender.sendAtRate(messages, RATE);
  let results: Array<Record<string, unknown>>;
  try {
    results = await Promise.all(dones);
  } catch (err) {
    const reports = await fleet.ask({ cmd: 'report' }, 'report', 5000);
    throw new Error(
      `${pair.name}: ${String(err)}; received ${reports.map((r) => String(r['received'])).join('+')}`,
    );
  }
  const cpuS = serverCpu(pair) - cpu0;
  const elapsedS = (Math.max(...results.map((r) => Number(r['at']))) - t0) / 1000;
  const received = results.reduce((a, r) => a + Number(r['received']), 0);
  const rep = {
    messagesPerS: messages / elapsedS,
    deliveriesPerS: received / elapsedS,
    perCpuS: received / cpuS,
  };
  console.log(
    `    throughput: ${messages} msgs at ${RATE}/s → ${received} deliveries in ${(elapsedS * 1000).toFixed(0)} ms = ` +
      `${Math.round(rep.messagesPerS)} msgs/s, ${Math.round(rep.deliveriesPerS)} deliveries/s; servers' CPU ${cpuS.toFixed(2)} s; ` +
      `client CPU ${results.map((r) => Number(r['cpuS']).toFixed(2)).join(' + ')} s`,
  );
  return rep;
}

/** Client reports, asked every 250 ms until `expected` frames have arrived or `waitMs` has passed. */
async function collect(fleet: ClientFleet, expected: number, waitMs: number): Promise<LatencyHistogram> {
  const deadline = performance.now() + waitMs;
  for (;;) {
    const reports = await fleet.ask({ cmd: 'report' }, 'report', 10_000);
    const received = reports.reduce((a, r) => a + Number(r['received']), 0);
    if (received >= expected || performance.now() > deadline) {
      const hist = new LatencyHistogram();
      for (const r of reports) hist.merge(r['histogram'] as Array<[number, number]>);
      return hist;
    }
    await sleep(250);
  }
}

/** Percent of `wallS` that each pid's counter (CPU, or waiting for a CPU) advanced since `before`. */
function percents(pids: number[], read: (pid: number) => number, before: number[], wallS: number): string {
  return pids.map((pid, i) => `${(((read(pid) - before[i]!) / wallS) * 100).toFixed(0)}%`).join(' ');
}

async function latencyRep(
  pair: Pair,
  fleet: ClientFleet,
  sender: BroadcastSender,
  subscribers: number,
): Promise<Latency> {
  const perS = LATENCY_DELIVERIES_PER_S / subscribers;
  const messages = Math.round(perS * LATENCY_SECONDS);
  for (const p of fleet.procs) p.send({ cmd: 'latency' });
  await sleep(100);
  const pids = [...pair.servers.map((s) => s.pid), ...fleet.procs.map((p) => p.pid)];
  const cpu0 = pids.map(procCpuSeconds);
  const wait0 = pids.map(procRunDelaySeconds);
  const t0 = performance.now();
  await sender.sendAtRate(messages, perS);
  const wallS = (performance.now() - t0) / 1000;
  const busy = percents(pids, procCpuSeconds, cpu0, wallS);
  const waited = percents(pids, procRunDelaySeconds, wait0, wallS);
  const expected = messages * subscribers;
  const hist = await collect(fleet, expected, LATE_WAIT_MS);
  if (hist.count !== expected) console.warn(`    note: ${hist.count}/${expected} frames arrived`);
  // frames still missing count as slower than anything measured, so they can only raise percentiles
  hist.add(Infinity, Math.max(0, expected - hist.count));
  const rep = { p50: hist.percentile(50), p99: hist.percentile(99) };
  console.log(
    `    latency: ${messages} msgs at ${perS}/s (${LATENCY_DELIVERIES_PER_S} deliveries/s) → p50 ${rep.p50.toFixed(1)} ms, ` +
      `p99 ${rep.p99.toFixed(1)} ms, max bucket ${hist.percentile(100).toFixed(1)} ms; busy (servers, clients) ${busy}; ` +
      `waiting for a CPU ${waited}`,
  );
  return rep;
}

/** One server pair, one size, one encoding: connect the subscribers, then measure. */
async function runScenario(pair: Pair, subscribers: number, vsn: BroadcastVsn): Promise<ScenarioResult> {
  const urls = pair.servers.map((s) => withVsn(s.url, vsn));
  const procs = subscribers > 2000 ? 4 : 2;
  const fleet = ClientFleet.start(
    urls,
    subscribers,
    procs,
    CHANNEL,
    0,
    JSON.stringify(broadcastJoinPayload()),
  );
  let sender: BroadcastSender | null = null;
  try {
    const t0 = performance.now();
    const joined = await fleet.connect();
    if (joined !== subscribers) throw new Error(`${pair.name}: ${joined}/${subscribers} subscribers joined`);
    sender = await BroadcastSender.open(urls, CHANNEL, vsn, SELF);
    console.log(
      `  ${pair.name}, ${subscribers} subscribers, vsn ${vsn} (connected and joined in ${(performance.now() - t0).toFixed(0)} ms):`,
    );
    await throughputRep(pair, fleet, sender, WARMUP_MESSAGES); // warm-up, not kept
    const messages = Math.max(WARMUP_MESSAGES, Math.round(DELIVERIES[pair.kind] / subscribers));
    const result: ScenarioResult = { throughput: [], latency: [] };
    for (let rep = 0; rep < REPEATS; rep++)
      result.throughput.push(await throughputRep(pair, fleet, sender, messages));
    for (let rep = 0; rep < REPEATS; rep++)
      result.latency.push(await latencyRep(pair, fleet, sender, subscribers));
    return result;
  } finally {
    sender?.close();
    fleet.stop();
    await sleep(500); // let the servers see the sockets go
  }
}

function rowsFor(label: string, gw: ScenarioResult, ws: ScenarioResult): ResultRow[] {
  const baselineName = '2 minimal `ws` servers relaying via Redis (baselines/ws-fanout-server.ts)';
  const pick = <T>(r: ScenarioResult, key: 'throughput' | 'latency', f: (x: T) => number): number[] =>
    (r[key] as T[]).map(f);
  const row = (
    what: string,
    unit: string,
    samples: number[],
    baselineSamples: number[],
    extra: Partial<ResultRow> = {},
  ): ResultRow => ({
    benchmark: `${label}${what}`,
    unit,
    figure: median(samples),
    baselineName,
    baseline: median(baselineSamples),
    samples,
    baselineSamples,
    ...extra,
  });
  const tp = (f: (t: Throughput) => number): [number[], number[]] => [
    pick(gw, 'throughput', f),
    pick(ws, 'throughput', f),
  ];
  const lat = (f: (l: Latency) => number): [number[], number[]] => [
    pick(gw, 'latency', f),
    pick(ws, 'latency', f),
  ];
  const latencyExtra = { better: 'lower' as const, digits: 1 };
  return [
    row('', 'messages/s', ...tp((t) => t.messagesPerS)),
    row('', 'deliveries/s', ...tp((t) => t.deliveriesPerS), { note: 'target ≥ 20×' }),
    row(', per CPU-second of the two servers', 'deliveries/CPU-s', ...tp((t) => t.perCpuS)),
    row(', send→receive p50 at 100k deliveries/s', 'ms', ...lat((l) => l.p50), latencyExtra),
    row(', send→receive p99 at 100k deliveries/s', 'ms', ...lat((l) => l.p99), {
      ...latencyExtra,
      note: 'target p99 < 50 ms',
    }),
  ];
}

export async function benchBroadcast(): Promise<ResultRow[]> {
  const redis = await LocalRedis.start();
  const pairs: Pair[] = [];
  const rows: ResultRow[] = [];
  try {
    const gateways = await startPair('gateway', redis.url);
    pairs.push(gateways);
    const baselines = await startPair('ws', redis.url);
    pairs.push(baselines);
    for (const subscribers of SIZES) {
      for (const { vsn, label } of ENCODINGS) {
        const gw = await runScenario(gateways, subscribers, vsn);
        const ws = await runScenario(baselines, subscribers, vsn);
        const name = `broadcast, 2 gateways → ${subscribers.toLocaleString('en-US')} subscribers, ${label}${SELF ? ', sender self: true' : ''}`;
        rows.push(...rowsFor(name, gw, ws));
      }
    }
  } finally {
    for (const pair of pairs) for (const s of pair.servers) await s.stop().catch(() => undefined);
    await redis.destroy().catch(() => undefined);
  }
  return rows;
}
