/**
 * Fan-out: deliveries/s from one server to N websocket clients joined to `realtime:public:t`, for
 * N = 1,000 and 10,000 (FANOUT_SOCKETS). Changes are pre-built bus envelopes PUBLISHed straight to
 * Redis at a fixed rate, so only the server is measured. Clients are raw `ws` sockets spread over
 * forked processes and 127.0.0.x source addresses; their CPU time is reported so one can see
 * whether the load generator, not the server, was the limit.
 */
import { Redis } from 'ioredis';
import { LocalRedis } from '@walcast/local-services';
import { ClientFleet } from './load-clients';
import { startGateway, startWsBaseline, type Server } from './servers';
import {
  encodeEnvelope,
  epochMs,
  median,
  procCpuSeconds,
  sleep,
  tableTEvent,
  topicForTable,
  type ResultRow,
} from './util';

interface Size {
  sockets: number;
  procs: number;
  /** Envelopes per repetition, for the gateway and for the (slower) `ws` baseline. */
  messages: { gateway: number; ws: number };
}

/**
 * FANOUT_SOCKETS=1000,10000. A repetition is 3M deliveries for the gateway and 0.5M for the `ws`
 * baseline (4 s at its rate on an idle box), so each lasts long enough and the suite stays short.
 */
const SIZES: Size[] = (process.env['FANOUT_SOCKETS'] ?? '1000,10000').split(',').map((s) => {
  const sockets = Number(s);
  const messages = (deliveries: number): number =>
    Number(process.env['FANOUT_MESSAGES'] ?? Math.max(50, Math.round(deliveries / sockets)));
  return {
    sockets,
    procs: Number(process.env['FANOUT_CLIENT_PROCS'] ?? (sockets > 2000 ? '4' : '2')),
    messages: { gateway: messages(3_000_000), ws: messages(500_000) },
  };
});
const RATE = Number(process.env['FANOUT_RATE'] ?? '5000'); // envelopes/s offered
const REPEATS = 3;
const DELIVERY_TIMEOUT_MS = 60_000;
const BUS_TOPIC = topicForTable('public', 't');
const CHANNEL = 'realtime:public:t';

interface RepResult {
  deliveriesPerS: number;
  received: number;
  elapsedMs: number;
  serverCpuS: number;
  clientCpuS: number[];
  frameBytes: number;
}

function eventJson(i: number): string {
  return tableTEvent('INSERT', { id: i, n: i, s: `row ${i}`, b: i % 2 === 0 });
}

async function publishAtRate(pub: Redis, envelopes: string[]): Promise<number> {
  // a batch every 10 ms
  const perTick = Math.max(1, Math.round(RATE / 100));
  const t0 = epochMs();
  let sent = 0;
  while (sent < envelopes.length) {
    const due = Math.min(envelopes.length, Math.floor(((epochMs() - t0) / 1000) * RATE) + perTick);
    if (due > sent) {
      const p = pub.pipeline();
      for (; sent < due; sent++) p.publish(BUS_TOPIC, envelopes[sent]!);
      await p.exec();
    }
    await sleep(10);
  }
  return t0;
}

async function measure(server: Server, fleet: ClientFleet, pub: Redis, messages: number): Promise<RepResult> {
  const src = `bench-${process.pid}-${server.pid}-${Date.now()}`;
  const envelopes = Array.from({ length: messages }, (_, i) =>
    encodeEnvelope(src, i + 1, `0/${(0x1000000 + i).toString(16).toUpperCase()}`, eventJson(i + 1), ['id']),
  );
  for (const c of fleet.procs) c.send({ cmd: 'expect', perSocket: messages });
  await sleep(100); // let the children take the command
  const serverCpu0 = procCpuSeconds(server.pid);
  const dones = fleet.procs.map((c) => c.next('done', DELIVERY_TIMEOUT_MS + (messages * 1000) / RATE));
  const t0 = await publishAtRate(pub, envelopes);
  let results: Array<Record<string, unknown>>;
  try {
    results = await Promise.all(dones);
  } catch (err) {
    const reports = await fleet.ask({ cmd: 'report' }, 'report', 5000);
    throw new Error(
      `${server.name}: ${String(err)}; received ${reports.map((r) => String(r['received'])).join('+')}`,
    );
  }
  const serverCpuS = procCpuSeconds(server.pid) - serverCpu0;
  const reports = await fleet.ask({ cmd: 'report' }, 'report', 5000);
  const end = Math.max(...results.map((r) => Number(r['at'])));
  const received = results.reduce((a, r) => a + Number(r['received']), 0);
  const elapsedMs = end - t0;
  return {
    deliveriesPerS: received / (elapsedMs / 1000),
    received,
    elapsedMs,
    serverCpuS,
    clientCpuS: results.map((r) => Number(r['cpuS'])),
    frameBytes: Number(reports[0]?.['sampleBytes']),
  };
}

interface Rates {
  perS: number[];
  perCpuS: number[];
}

/** A vsn 2.0.0 postgres_changes channel on the same table, with a filter every change passes. */
const MODERN = {
  channel: 'realtime:bench',
  payload: JSON.stringify({
    config: { postgres_changes: [{ event: '*', schema: 'public', table: 't', filter: 'n=gte.0' }] },
  }),
};

async function benchServer(
  server: Server,
  pub: Redis,
  size: Size,
  messages: number,
  modern = false,
): Promise<Rates> {
  const fleet = modern
    ? ClientFleet.start(
        [server.url.replace('vsn=1.0.0', 'vsn=2.0.0')],
        size.sockets,
        size.procs,
        MODERN.channel,
        0,
        MODERN.payload,
      )
    : ClientFleet.start([server.url], size.sockets, size.procs, CHANNEL);
  try {
    const joined = await fleet.connect();
    const rates: Rates = { perS: [], perCpuS: [] };
    for (let rep = 0; rep < REPEATS; rep++) {
      const r = await measure(server, fleet, pub, messages);
      rates.perS.push(r.deliveriesPerS);
      rates.perCpuS.push(r.received / r.serverCpuS);
      console.log(
        `  fan-out ${server.name}${modern ? ' (vsn 2.0.0 postgres_changes)' : ''} #${rep + 1}: ${joined} sockets, ${messages} msgs at ${RATE}/s → ${r.received} deliveries in ` +
          `${r.elapsedMs.toFixed(0)} ms = ${Math.round(r.deliveriesPerS)}/s; frame ${r.frameBytes} B; server CPU ${r.serverCpuS.toFixed(2)} s; ` +
          `client CPU ${r.clientCpuS.map((x) => x.toFixed(2)).join(' + ')} s`,
      );
    }
    return rates;
  } finally {
    fleet.stop();
    await server.stop();
  }
}

export async function benchFanout(): Promise<ResultRow[]> {
  const redis = await LocalRedis.start();
  const pub = new Redis(redis.url);
  const rows: ResultRow[] = [];
  try {
    for (const size of SIZES) {
      const gw = await benchServer(await startGateway(redis.url), pub, size, size.messages.gateway);
      const base = await benchServer(
        await startWsBaseline(redis.url, BUS_TOPIC, CHANNEL),
        pub,
        size,
        size.messages.ws,
      );
      const label = `fan-out, 1 gateway → ${size.sockets.toLocaleString('en-US')} sockets`;
      rows.push({
        benchmark: `${label} (${size.messages.gateway}/${size.messages.ws} msgs per rep at ${RATE}/s)`,
        unit: 'deliveries/s',
        figure: median(gw.perS),
        baselineName: 'minimal `ws` server (baselines/ws-fanout-server.ts)',
        baseline: median(base.perS),
        samples: gw.perS,
        baselineSamples: base.perS,
        note: 'target ≥ 10×',
      });
      rows.push({
        benchmark: `${label}, per CPU-second of the server process`,
        unit: 'deliveries/CPU-s',
        figure: median(gw.perCpuS),
        baselineName: 'minimal `ws` server',
        baseline: median(base.perCpuS),
        samples: gw.perCpuS,
        baselineSamples: base.perCpuS,
        note: 'less sensitive to other load on the box',
      });
      if (size !== SIZES[0]) continue;
      // The same fan-out to modern clients: vsn 2.0.0 frames, a postgres_changes binding with a filter.
      const modern = await benchServer(await startGateway(redis.url), pub, size, size.messages.gateway, true);
      rows.push({
        benchmark: `${label}, vsn 2.0.0 postgres_changes, filter n=gte.0`,
        unit: 'deliveries/s',
        figure: median(modern.perS),
        baselineName: 'minimal `ws` server (as above)',
        baseline: median(base.perS),
        samples: modern.perS,
        baselineSamples: base.perS,
        note: 'target ≥ 10×',
      });
    }
  } finally {
    pub.disconnect();
    await redis.destroy().catch(() => undefined);
  }
  return rows;
}
