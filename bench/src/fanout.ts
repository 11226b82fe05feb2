/**
 * Fan-out: deliveries/s from one server to SOCKETS websocket clients joined to `realtime:public:t`.
 * Changes are pre-built bus envelopes PUBLISHed straight to Redis at a fixed rate, so only the
 * server is measured. Clients are raw `ws` sockets in CLIENT_PROCS forked processes; their CPU time
 * is reported so one can see whether the load generator, not the server, was the limit.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { LocalRedis, freePort } from '@walcast/local-services';
import { GATEWAY_ENTRY, spawnService } from '@walcast/test-utils';
import {
  encodeEnvelope,
  epochMs,
  median,
  procCpuSeconds,
  sleep,
  topicForTable,
  type ResultRow,
} from './util';

const SOCKETS = Number(process.env['FANOUT_SOCKETS'] ?? '1000');
const CLIENT_PROCS = Number(process.env['FANOUT_CLIENT_PROCS'] ?? '2');
const MESSAGES = Number(process.env['FANOUT_MESSAGES'] ?? '3000'); // per repetition
const RATE = Number(process.env['FANOUT_RATE'] ?? '5000'); // envelopes/s offered
const REPEATS = 3;
const DELIVERY_TIMEOUT_MS = 60_000;
const BUS_TOPIC = topicForTable('public', 't');

interface Server {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

interface RepResult {
  deliveriesPerS: number;
  received: number;
  elapsedMs: number;
  serverCpuS: number;
  clientCpuS: number[];
  frameBytes: number;
}

function eventJson(i: number): string {
  return JSON.stringify({
    schema: 'public',
    table: 't',
    commit_timestamp: '2026-01-01T00:00:00.000000Z',
    errors: null,
    type: 'INSERT',
    columns: [
      { name: 'id', type: 'int8' },
      { name: 'n', type: 'int4' },
      { name: 's', type: 'text' },
      { name: 'b', type: 'bool' },
    ],
    record: { id: i, n: i, s: `row ${i}`, b: i % 2 === 0 },
  });
}

class ClientProc {
  private waiters: Array<(m: Record<string, unknown>) => void> = [];
  readonly messages: Array<Record<string, unknown>> = [];
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Record<string, unknown>) => {
      this.messages.push(m);
      for (const w of this.waiters.splice(0)) w(m);
    });
  }
  static start(url: string, sockets: number): ClientProc {
    const child = fork(join(__dirname, 'fanout-client.js'), [], {
      env: {
        PATH: process.env['PATH'] ?? '',
        URL: url,
        SOCKETS: String(sockets),
        TOPIC: 'realtime:public:t',
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new ClientProc(child);
  }
  send(msg: Record<string, unknown>): void {
    this.child.send(msg);
  }
  /** Resolves with the next message of `type` (or an already received one), rejects after timeoutMs. */
  next(type: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const found = this.messages.findIndex((m) => m['type'] === type || m['type'] === 'error');
    if (found >= 0) return Promise.resolve(this.check(this.messages.splice(found, 1)[0]!));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`client: no ${type} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const wait = (m: Record<string, unknown>): void => {
        if (m['type'] !== type && m['type'] !== 'error') {
          this.waiters.push(wait);
          return;
        }
        clearTimeout(timer);
        this.messages.splice(this.messages.indexOf(m), 1);
        try {
          resolve(this.check(m));
        } catch (err) {
          reject(err);
        }
      };
      this.waiters.push(wait);
    });
  }
  private check(m: Record<string, unknown>): Record<string, unknown> {
    if (m['type'] === 'error') throw new Error(`client: ${String(m['message'])}`);
    return m;
  }
  stop(): void {
    if (this.child.connected) this.send({ cmd: 'exit' });
    setTimeout(() => this.child.kill('SIGKILL'), 2000).unref();
  }
}

async function startGateway(redisUrl: string): Promise<Server> {
  const port = await freePort();
  const gw = await spawnService({
    name: 'gateway',
    entry: GATEWAY_ENTRY,
    env: {
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: redisUrl,
      LOG_LEVEL: 'warn',
      SOCKET_TIMEOUT: 'infinity',
    },
    readyUrl: `http://127.0.0.1:${port}/readyz`,
  });
  await gw.waitForReady();
  return {
    name: 'walcast gateway (uWS.js)',
    url: `ws://127.0.0.1:${port}/socket/websocket?vsn=1.0.0`,
    pid: gw.pid,
    stop: async () => {
      await gw.stop();
    },
  };
}

async function startWsBaseline(redisUrl: string): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, [join(__dirname, 'baselines', 'ws-fanout-server.js')], {
    env: { PATH: process.env['PATH'] ?? '', PORT: String(port), REDIS_URL: redisUrl, TOPIC: BUS_TOPIC },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('ws baseline did not start')), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`ws baseline exited ${code}`)));
  });
  return {
    name: 'ws baseline',
    url: `ws://127.0.0.1:${port}/socket/websocket`,
    pid: child.pid!,
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

let clientProcs: ClientProc[] = [];

async function measure(server: Server, pub: Redis, rep: number): Promise<RepResult> {
  const src = `bench-${process.pid}-${server.name.length}-${rep}-${Date.now()}`;
  const envelopes = Array.from({ length: MESSAGES }, (_, i) =>
    encodeEnvelope(src, i + 1, `0/${(0x1000000 + i).toString(16).toUpperCase()}`, eventJson(i + 1), ['id']),
  );
  for (const c of clientProcs) c.send({ cmd: 'expect', perSocket: MESSAGES });
  await sleep(100); // let the children take the command
  const serverCpu0 = procCpuSeconds(server.pid);
  const dones = clientProcs.map((c) => c.next('done', DELIVERY_TIMEOUT_MS + (MESSAGES * 1000) / RATE));
  // publish at a fixed rate: a batch every 10 ms
  const perTick = Math.max(1, Math.round(RATE / 100));
  const t0 = epochMs();
  let sent = 0;
  while (sent < MESSAGES) {
    const due = Math.min(MESSAGES, Math.floor(((epochMs() - t0) / 1000) * RATE) + perTick);
    if (due > sent) {
      const p = pub.pipeline();
      for (; sent < due; sent++) p.publish(BUS_TOPIC, envelopes[sent]!);
      await p.exec();
    }
    await sleep(10);
  }
  let results: Array<Record<string, unknown>>;
  try {
    results = await Promise.all(dones);
  } catch (err) {
    for (const c of clientProcs) c.send({ cmd: 'report' });
    const reports = await Promise.all(clientProcs.map((c) => c.next('report', 5000)));
    throw new Error(
      `${server.name}: ${String(err)}; received ${reports.map((r) => String(r['received'])).join('+')}`,
    );
  }
  const serverCpuS = procCpuSeconds(server.pid) - serverCpu0;
  for (const c of clientProcs) c.send({ cmd: 'report' });
  const reports = await Promise.all(clientProcs.map((c) => c.next('report', 5000)));
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

async function benchServer(server: Server, pub: Redis): Promise<number[]> {
  clientProcs = [];
  const per = Math.ceil(SOCKETS / CLIENT_PROCS);
  try {
    for (let i = 0; i < CLIENT_PROCS; i++)
      clientProcs.push(ClientProc.start(server.url, Math.min(per, SOCKETS - i * per)));
    for (const c of clientProcs) c.send({ cmd: 'connect' });
    const ready = await Promise.all(clientProcs.map((c) => c.next('ready', 60_000)));
    const joined = ready.reduce((a, r) => a + Number(r['sockets']), 0);
    const rates: number[] = [];
    for (let rep = 0; rep < REPEATS; rep++) {
      const r = await measure(server, pub, rep);
      rates.push(r.deliveriesPerS);
      console.log(
        `  fan-out ${server.name} #${rep + 1}: ${joined} sockets, ${MESSAGES} msgs at ${RATE}/s → ${r.received} deliveries in ` +
          `${r.elapsedMs.toFixed(0)} ms = ${Math.round(r.deliveriesPerS)}/s; frame ${r.frameBytes} B; server CPU ${r.serverCpuS.toFixed(2)} s; ` +
          `client CPU ${r.clientCpuS.map((x) => x.toFixed(2)).join(' + ')} s`,
      );
    }
    return rates;
  } finally {
    for (const c of clientProcs) c.stop();
    await server.stop();
  }
}

export async function benchFanout(): Promise<ResultRow[]> {
  const redis = await LocalRedis.start();
  const pub = new Redis(redis.url);
  try {
    const gw = await benchServer(await startGateway(redis.url), pub);
    const base = await benchServer(await startWsBaseline(redis.url), pub);
    return [
      {
        benchmark: `fan-out to ${SOCKETS} sockets (${MESSAGES} msgs offered at ${RATE}/s)`,
        unit: 'deliveries/s',
        figure: median(gw),
        baselineName: 'minimal `ws` server (baselines/ws-fanout-server.ts)',
        baseline: median(base),
        samples: gw,
        baselineSamples: base,
      },
    ];
  } finally {
    pub.disconnect();
    await redis.destroy().catch(() => undefined);
  }
}
