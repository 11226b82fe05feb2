/**
 * Presence across two gateways on one Redis (`BENCH=presence`), with CLIENT_PRESENCE_MAX_CALLS and
 * MAX_PRESENCE_EVENTS_PER_SECOND raised so that the limits do not refuse the load.
 *
 * - Tracks/s: PRESENCE_SOLO_SOCKETS (default 400) sockets, each alone on its own topic, send 10
 *   tracks each at once; timed from the first send to the last `ok` reply.
 * - Tracks seen by every subscriber: PRESENCE_SUBSCRIBERS (default 1,000) raw `ws` sockets in two
 *   forked processes (presence-client.ts), alternating between the gateways, join
 *   `realtime:bench-presence` with presence read on and a key each. Each socket then tracks once,
 *   all at once (a burst of 1,000 tracks; the first burst is a warm-up, the next three are updates,
 *   each one diff with a leave and a join). Timed from the first track sent to the moment the last
 *   subscriber has seen every join meta.
 * - Track → diff latency: PRESENCE_LATENCY_RATE tracks/s (default 100, i.e. 100,000 diff deliveries/s
 *   at 1,000 subscribers) for 2 s, per subscriber receipt time minus the `t_ms` in the meta.
 * - Late-join state: a presence store in this process (the gateway's own RedisPresenceStore from
 *   services/gateway/dist, standing for a third gateway with its lease) tracks PRESENCE_STATE_SIZE
 *   (default 10,000) presences on a fresh topic, all in flight at once (tracks/s of the store); then a
 *   new socket joins that topic through a gateway and is timed from its `phx_join` to the
 *   `presence_state` frame, which must hold every presence. Baseline: the same late join to a topic
 *   with no presences, same run.
 *
 * No `ws` server has presence, so figures stand beside the targets and Supabase's documented
 * settings, read from its source (Phoenix.Tracker's broadcast_period, max_presence_events_per_second).
 */
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import WebSocket from 'ws';
import { LocalRedis } from '@walcast/local-services';
import {
  createRedisPresenceStore,
  type PresenceStore,
} from '../../services/gateway/dist/presence/presence-store';
import { ClientProc } from './load-clients';
import { startGateway, type Server } from './servers';
import {
  LatencyHistogram,
  epochMs,
  median,
  procCpuSeconds,
  procRunDelaySeconds,
  sleep,
  type ResultRow,
} from './util';

const SUBSCRIBERS = Number(process.env['PRESENCE_SUBSCRIBERS'] ?? '1000');
const STATE_SIZE = Number(process.env['PRESENCE_STATE_SIZE'] ?? '10000');
const LATENCY_RATE = Number(process.env['PRESENCE_LATENCY_RATE'] ?? '100');
const LATENCY_SECONDS = 2;
const REPEATS = 3;
const TOPIC = 'realtime:bench-presence';
const GATEWAY_ENV = {
  CLIENT_PRESENCE_MAX_CALLS: '1000000',
  MAX_PRESENCE_EVENTS_PER_SECOND: '10000000',
};
/** Supabase's presence settings (Phoenix.Tracker's broadcast_period): remote joins show after up to 1.5 s. */
const SUPABASE_BROADCAST_PERIOD_MS = 1500;
/** …and its default `max_presence_events_per_second` per tenant (plans 20 / 50 / 1,000). */
const SUPABASE_PRESENCE_EVENTS_PER_S = 1000;
const TARGET_DIFF_P99_MS = 100;
const TARGET_STATE_MS = 200;

type Logger = Parameters<typeof createRedisPresenceStore>[0]['log'];

function silentLogger(): Logger {
  const log: Record<string, unknown> = {};
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[level] = () => undefined;
  log['child'] = () => log;
  return log as unknown as Logger;
}

/** Two client processes with `sockets` between them, from 127.0.0.2 and 127.0.0.3. */
function startFleet(servers: Server[], sockets: number, isSolo: boolean): Fleet {
  const procs: ClientProc[] = [];
  const per = Math.ceil(sockets / 2);
  const counts = [per, sockets - per];
  counts.forEach((count, i) => {
    const child = fork(join(__dirname, 'presence-client.js'), [], {
      env: {
        PATH: process.env['PATH'] ?? '',
        URLS: servers.map((s) => s.url).join(','),
        SOCKETS: String(count),
        TOPIC,
        KEY_PREFIX: `p${i}-`,
        LOCAL_ADDRESS: `127.0.0.${2 + i}`,
        SOLO_TOPICS: String(isSolo),
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    procs.push(new ClientProc(child));
  });
  return { procs, counts };
}

interface Fleet {
  procs: ClientProc[];
  /** Sockets per process. */
  counts: number[];
}

async function ask(procs: ClientProc[], msg: Record<string, unknown>, type: string, timeoutMs: number) {
  for (const p of procs) p.send(msg);
  return Promise.all(procs.map((p) => p.next(type, timeoutMs)));
}

function mergedHistogram(reports: Array<Record<string, unknown>>): LatencyHistogram {
  const hist = new LatencyHistogram();
  for (const r of reports) hist.merge(r['histogram'] as Array<[number, number]>);
  return hist;
}

interface Burst {
  seenMs: number;
  acceptedPerS: number;
  p50: number;
  p99: number;
}

/**
 * Every socket tracks `perSocket` times, all at once; resolves when every socket has seen
 * `joinsPerSocket` join metas (every track on a shared topic, its own ones on a solo topic).
 */
async function burstRep(
  fleet: Fleet,
  servers: Server[],
  label: string,
  perSocket: number,
  joinsPerSocket: number,
): Promise<Burst> {
  const { procs, counts } = fleet;
  const tracks = counts.reduce((a, c) => a + c, 0) * perSocket;
  for (const p of procs) p.send({ cmd: 'expect', joins: joinsPerSocket });
  await sleep(100);
  const cpu0 = servers.map((s) => procCpuSeconds(s.pid));
  const dones = procs.map((p) => p.next('done', 60_000));
  const tracked = procs.map((p) => p.next('tracked', 60_000));
  procs.forEach((p, i) => p.send({ cmd: 'track', count: counts[i]! * perSocket, perS: 0 }));
  const [done, acks] = [await Promise.all(dones), await Promise.all(tracked)];
  const errors = acks.reduce((a, t) => a + Number(t['errors']), 0);
  if (errors > 0) throw new Error(`presence: ${errors} tracks were refused`);
  const first = Math.min(...acks.map((t) => Number(t['firstSendAt'])));
  const lastOk = Math.max(...acks.map((t) => Number(t['lastOkAt'])));
  const seenAt = Math.max(...done.map((d) => Number(d['at'])));
  const reports = await ask(procs, { cmd: 'report' }, 'report', 10_000);
  const hist = mergedHistogram(reports);
  const cpu = servers.map((s, i) => (procCpuSeconds(s.pid) - cpu0[i]!).toFixed(2)).join(' + ');
  const rep: Burst = {
    seenMs: seenAt - first,
    acceptedPerS: tracks / ((lastOk - first) / 1000),
    p50: hist.percentile(50),
    p99: hist.percentile(99),
  };
  console.log(
    `  ${label}: ${tracks} tracks → all ok in ${(lastOk - first).toFixed(0)} ms (${Math.round(rep.acceptedPerS)}/s), ` +
      `every socket saw its ${joinsPerSocket} joins in ${rep.seenMs.toFixed(0)} ms; diff p50 ${rep.p50.toFixed(1)} ms, ` +
      `p99 ${rep.p99.toFixed(1)} ms; gateways' CPU ${cpu} s; clients' CPU ${reports.map((r) => Number(r['cpuS']).toFixed(2)).join(' + ')} s`,
  );
  return rep;
}

/** LATENCY_RATE tracks/s for LATENCY_SECONDS; track → diff at every subscriber. */
async function latencyRep({ procs }: Fleet, servers: Server[]): Promise<{ p50: number; p99: number }> {
  const tracks = LATENCY_RATE * LATENCY_SECONDS;
  for (const p of procs) p.send({ cmd: 'expect', joins: tracks });
  await sleep(100);
  const pids = [...servers.map((s) => s.pid), ...procs.map((p) => p.pid)];
  const cpu0 = pids.map(procCpuSeconds);
  const wait0 = pids.map(procRunDelaySeconds);
  const t0 = performance.now();
  const dones = procs.map((p) => p.next('done', LATENCY_SECONDS * 1000 + 5000));
  for (const p of procs) p.send({ cmd: 'track', count: tracks / 2, perS: LATENCY_RATE / 2 });
  const settled = await Promise.allSettled(dones);
  const wallS = (performance.now() - t0) / 1000;
  const reports = await ask(procs, { cmd: 'report' }, 'report', 10_000);
  const hist = mergedHistogram(reports);
  const expected = tracks * SUBSCRIBERS;
  if (settled.some((s) => s.status === 'rejected'))
    console.warn(`    note: ${hist.count}/${expected} diffs arrived`);
  hist.add(Infinity, Math.max(0, expected - hist.count)); // missing ones count as slower than all
  const percent = (read: (pid: number) => number, before: number[]): string =>
    pids.map((pid, i) => `${(((read(pid) - before[i]!) / wallS) * 100).toFixed(0)}%`).join(' ');
  const rep = { p50: hist.percentile(50), p99: hist.percentile(99) };
  console.log(
    `  latency: ${tracks} tracks at ${LATENCY_RATE}/s → ${hist.count} diff deliveries, p50 ${rep.p50.toFixed(1)} ms, ` +
      `p99 ${rep.p99.toFixed(1)} ms; busy (gateways, clients) ${percent(procCpuSeconds, cpu0)}; ` +
      `waiting for a CPU ${percent(procRunDelaySeconds, wait0)}`,
  );
  return rep;
}

/** A store standing for one more gateway, once its Redis connection answers. */
async function openStore(redisUrl: string): Promise<PresenceStore> {
  const store = createRedisPresenceStore({
    redis: { url: redisUrl },
    gatewayId: `bench-store-${process.pid}`,
    leaseMs: 8000,
    log: silentLogger(),
  });
  store.start();
  const probe = { subtopic: 'bench-presence-probe', isPrivate: false };
  for (let attempt = 0; ; attempt++) {
    try {
      await store.list(probe);
      return store;
    } catch (err) {
      if (attempt > 100) throw err;
      await sleep(50);
    }
  }
}

/** STATE_SIZE tracks on `subtopic`, all in flight; resolves with tracks/s. */
async function fillTopic(store: PresenceStore, subtopic: string): Promise<number> {
  const topic = { subtopic, isPrivate: false };
  const onlineAt = new Date().toISOString();
  const t0 = performance.now();
  const tracks: Array<Promise<void>> = [];
  for (let i = 0; i < STATE_SIZE; i++) {
    const meta = {
      phx_ref: randomBytes(12).toString('base64url'),
      user_id: randomUUID(),
      online_at: onlineAt,
      status: 'online',
    };
    tracks.push(store.track(topic, { key: `user-${i}`, meta }, null));
  }
  await Promise.all(tracks);
  return STATE_SIZE / ((performance.now() - t0) / 1000);
}

/** A fresh socket joins `subtopic` with presence on: ms from `phx_join` to `presence_state`, its size and keys. */
function lateJoin(url: string, subtopic: string): Promise<{ ms: number; bytes: number; keys: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let t0 = 0;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`presence: no presence_state for ${subtopic}`));
    }, 10_000);
    ws.once('error', reject);
    ws.on('message', (data: Buffer) => {
      const at = epochMs();
      const text = data.toString();
      if (!text.includes('"presence_state"')) return;
      const msg = JSON.parse(text) as { event: string; payload: Record<string, unknown> };
      if (msg.event !== 'presence_state') return;
      clearTimeout(timer);
      ws.terminate();
      resolve({ ms: at - t0, bytes: data.length, keys: Object.keys(msg.payload).length });
    });
    ws.once('open', () => {
      const config = { broadcast: { self: false, ack: false }, presence: { enabled: true, key: 'late' } };
      t0 = epochMs();
      ws.send(
        JSON.stringify({
          topic: `realtime:${subtopic}`,
          event: 'phx_join',
          payload: { config },
          ref: '1',
          join_ref: '1',
        }),
      );
    });
  });
}

interface StateResult {
  tracksPerS: number[];
  fullMs: number[];
  emptyMs: number[];
  bytes: number;
}

async function stateScenario(redisUrl: string, servers: Server[]): Promise<StateResult> {
  const store = await openStore(redisUrl);
  const result: StateResult = { tracksPerS: [], fullMs: [], emptyMs: [], bytes: 0 };
  try {
    await lateJoin(servers[0]!.url, 'bench-presence-empty'); // warm-up
    for (let rep = 0; rep < REPEATS; rep++) {
      const subtopic = `bench-presence-state-${rep}`;
      result.tracksPerS.push(await fillTopic(store, subtopic));
      const server = servers[rep % servers.length]!;
      const empty = await lateJoin(server.url, 'bench-presence-empty');
      const full = await lateJoin(server.url, subtopic);
      if (full.keys !== STATE_SIZE) throw new Error(`presence: state held ${full.keys}/${STATE_SIZE} keys`);
      result.fullMs.push(full.ms);
      result.emptyMs.push(empty.ms);
      result.bytes = full.bytes;
      console.log(
        `  state #${rep + 1}: ${STATE_SIZE} tracks through one store at ${Math.round(result.tracksPerS[rep]!)}/s; ` +
          `late join on gateway ${(rep % servers.length) + 1}: presence_state of ${full.keys} keys (${full.bytes} B, one frame) ` +
          `in ${full.ms.toFixed(1)} ms; empty topic ${empty.ms.toFixed(1)} ms`,
      );
    }
  } finally {
    await store.stop().catch(() => undefined);
  }
  return result;
}

function rows(
  solo: Burst[],
  bursts: Burst[],
  latency: Array<{ p50: number; p99: number }>,
  state: StateResult,
): ResultRow[] {
  const label = `presence, 2 gateways, ${SUBSCRIBERS.toLocaleString('en-US')} subscribers`;
  const seen = bursts.map((b) => b.seenMs);
  const p99 = latency.map((l) => l.p99);
  return [
    {
      benchmark: `${label}: ${SUBSCRIBERS.toLocaleString('en-US')} tracks at once, seen by every subscriber`,
      unit: 'ms',
      figure: median(seen),
      baselineName: "Supabase's broadcast_period: a remote join shows after up to 1.5 s (documented)",
      baseline: SUPABASE_BROADCAST_PERIOD_MS,
      samples: seen,
      baselineSamples: [SUPABASE_BROADCAST_PERIOD_MS],
      better: 'lower',
      note: `${Math.round(SUBSCRIBERS / (median(seen) / 1000))} tracks/s seen by all; diff p99 in the burst ${fmtMs(median(bursts.map((b) => b.p99)))}`,
    },
    {
      benchmark: `presence, 2 gateways: ${SOLO_SOCKETS} sockets each alone on its topic, ${SOLO_TRACKS_PER_SOCKET} tracks each at once (first send → last ok)`,
      unit: 'tracks/s',
      figure: median(solo.map((b) => b.acceptedPerS)),
      baselineName: "Supabase's default max_presence_events_per_second per tenant (a cap)",
      baseline: SUPABASE_PRESENCE_EVENTS_PER_S,
      samples: solo.map((b) => b.acceptedPerS),
      baselineSamples: [SUPABASE_PRESENCE_EVENTS_PER_S],
      note: 'websocket → gateway → Redis script → diff back to the tracker',
    },
    {
      benchmark: `${label}: track → presence_diff at every subscriber, p99 at ${LATENCY_RATE} tracks/s`,
      unit: 'ms',
      figure: median(p99),
      baselineName: 'issue target',
      baseline: TARGET_DIFF_P99_MS,
      samples: p99,
      baselineSamples: [TARGET_DIFF_P99_MS],
      better: 'lower',
      digits: 1,
      note: `p50 ${fmtMs(median(latency.map((l) => l.p50)))}; target p99 < ${TARGET_DIFF_P99_MS} ms`,
    },
    {
      benchmark: `presence store: ${STATE_SIZE.toLocaleString('en-US')} tracks in flight from one gateway's store`,
      unit: 'tracks/s',
      figure: median(state.tracksPerS),
      baselineName: "Supabase's default max_presence_events_per_second per tenant (a cap)",
      baseline: SUPABASE_PRESENCE_EVENTS_PER_S,
      samples: state.tracksPerS,
      baselineSamples: [SUPABASE_PRESENCE_EVENTS_PER_S],
    },
    {
      benchmark: `presence late join at ${STATE_SIZE.toLocaleString('en-US')} presences: phx_join → presence_state (one frame, ${Math.round(state.bytes / 1024)} KB)`,
      unit: 'ms',
      figure: median(state.fullMs),
      baselineName: 'the same late join to a topic with no presences',
      baseline: median(state.emptyMs),
      samples: state.fullMs,
      baselineSamples: state.emptyMs,
      better: 'lower',
      digits: 1,
      note: `target < ${TARGET_STATE_MS} ms`,
    },
  ];
}

function fmtMs(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}

const SOLO_SOCKETS = Number(process.env['PRESENCE_SOLO_SOCKETS'] ?? '400');
const SOLO_TRACKS_PER_SOCKET = 10;

/** Runs `body` with a fleet, stopping its processes afterwards. */
async function withFleet<T>(
  servers: Server[],
  sockets: number,
  isSolo: boolean,
  body: (fleet: Fleet) => Promise<T>,
): Promise<T> {
  const fleet = startFleet(servers, sockets, isSolo);
  try {
    const t0 = performance.now();
    const ready = await ask(fleet.procs, { cmd: 'connect' }, 'ready', 120_000);
    const joined = ready.reduce((a, r) => a + Number(r['sockets']), 0);
    if (joined !== sockets) throw new Error(`presence: ${joined}/${sockets} sockets joined`);
    console.log(
      `  ${sockets} sockets joined ${isSolo ? 'a topic each' : TOPIC} in ${(performance.now() - t0).toFixed(0)} ms`,
    );
    return await body(fleet);
  } finally {
    for (const p of fleet.procs) p.stop();
    await sleep(500); // let the gateways see the sockets go
  }
}

export async function benchPresence(): Promise<ResultRow[]> {
  const redis = await LocalRedis.start();
  const servers: Server[] = [];
  try {
    servers.push(await startGateway(redis.url, undefined, GATEWAY_ENV));
    servers.push(await startGateway(redis.url, undefined, GATEWAY_ENV));
    const solo = await withFleet(servers, SOLO_SOCKETS, true, async (fleet) => {
      const n = SOLO_TRACKS_PER_SOCKET;
      await burstRep(fleet, servers, 'solo warm-up', n, n);
      const reps: Burst[] = [];
      for (let rep = 0; rep < REPEATS; rep++)
        reps.push(await burstRep(fleet, servers, `solo #${rep + 1}`, n, n));
      return reps;
    });
    const shared = await withFleet(servers, SUBSCRIBERS, false, async (fleet) => {
      await burstRep(fleet, servers, 'warm-up (first tracks)', 1, SUBSCRIBERS);
      const bursts: Burst[] = [];
      for (let rep = 0; rep < REPEATS; rep++)
        bursts.push(await burstRep(fleet, servers, `burst #${rep + 1}`, 1, SUBSCRIBERS));
      const latency: Array<{ p50: number; p99: number }> = [];
      for (let rep = 0; rep < REPEATS; rep++) latency.push(await latencyRep(fleet, servers));
      return { bursts, latency };
    });
    const state = await stateScenario(redis.url, servers);
    return rows(solo, shared.bursts, shared.latency, state);
  } finally {
    for (const s of servers) await s.stop().catch(() => undefined);
    await redis.destroy().catch(() => undefined);
  }
}
