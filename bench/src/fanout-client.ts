/**
 * Load generator for the fan-out, latency and connection benchmarks (run as a forked child).
 * Opens SOCKETS raw `ws` clients, round-robin over the comma-separated URLS, from LOCAL_ADDRESS
 * (a 127.0.0.x address, so many processes do not share one address's ephemeral ports), optionally
 * joins TOPIC with the legacy Phoenix join (vsn 1.0.0, empty payload; or, with JOIN_PAYLOAD holding a
 * `config`, a modern join: postgres_changes and/or broadcast), then counts frames (text or binary) or
 * records each frame's latency (receipt time minus the `t_ms` value in it, epoch ms: a row's column
 * or a broadcast's payload field).
 *
 * IPC in: {cmd:'connect', join} · {cmd:'join'} · {cmd:'expect', perSocket} · {cmd:'latency'} ·
 * {cmd:'report'} · {cmd:'exit'}. IPC out: {type:'ready', sockets} · {type:'joined'} ·
 * {type:'done', at, received, cpuS} · {type:'report', received, cpuS, sampleBytes, histogram?}.
 */
import WebSocket from 'ws';
import { LatencyHistogram, epochMs } from './util';

const urls = (process.env['URLS'] ?? '').split(',');
const sockets = Number(process.env['SOCKETS'] ?? '500');
const topic = process.env['TOPIC'] ?? 'realtime:public:t';
/**
 * A join payload (JSON), or a JSON array of them (socket i joins with the (i mod n)-th: per-user
 * tokens and filters). Frames are vsn 2.0.0 arrays when the URLs ask for vsn=2.0.0, else objects.
 */
const parsedPayload = JSON.parse(process.env['JOIN_PAYLOAD'] ?? '{}') as unknown;
const joinPayloads = (Array.isArray(parsedPayload) ? parsedPayload : [parsedPayload]) as Array<
  Record<string, unknown>
>;
const arrayFrames = urls[0]!.includes('vsn=2.0.0');
/** Only a postgres_changes join is followed by the `system` "Subscribed to PostgreSQL" push. */
const awaitsSystem = ((): boolean => {
  const config = joinPayloads[0]!['config'] as { postgres_changes?: unknown } | undefined;
  return Array.isArray(config?.postgres_changes) && config.postgres_changes.length > 0;
})();
const localAddress = process.env['LOCAL_ADDRESS'] || undefined;
const CONNECT_BATCH = 100;
const JOIN_TIMEOUT_MS = 30_000;

const clients: WebSocket[] = [];
let received = 0;
let target = Infinity;
let doneSent = true;
let cpuAtStart = process.cpuUsage();
let sampleFrame = '';
let histogram: LatencyHistogram | null = null;

function send(msg: Record<string, unknown>): void {
  process.send?.(msg);
}

function onFrame(data: WebSocket.RawData): void {
  received++;
  if (histogram) {
    const now = epochMs();
    const text = data.toString();
    const at = text.indexOf('"t_ms":');
    if (at >= 0) histogram.add(now - parseFloat(text.slice(at + 7, at + 40)));
    return;
  }
  if (sampleFrame === '') sampleFrame = data.toString();
  if (!doneSent && received >= target) {
    doneSent = true;
    const cpu = process.cpuUsage(cpuAtStart);
    send({ type: 'done', at: epochMs(), received, cpuS: (cpu.user + cpu.system) / 1e6 });
  }
}

/** Sends the join and resolves on its `ok` reply (and `system` push, if one follows); then counts frames. */
function join(ws: WebSocket, i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket ${i}: no join reply`)), JOIN_TIMEOUT_MS);
    ws.once('message', (data) => {
      clearTimeout(timer);
      const text = data.toString();
      if (!text.includes('"phx_reply"') || !text.includes('"ok"')) {
        reject(new Error(`socket ${i}: join refused: ${text.slice(0, 300)}`));
        return;
      }
      if (!awaitsSystem) {
        ws.on('message', onFrame);
        resolve();
        return;
      }
      // postgres_changes: "Subscribed to PostgreSQL" (system) comes next, before any change.
      ws.once('message', () => {
        ws.on('message', onFrame);
        resolve();
      });
    });
    ws.send(
      arrayFrames
        ? JSON.stringify(['1', '1', topic, 'phx_join', joinPayloads[i % joinPayloads.length]])
        : JSON.stringify({
            topic,
            event: 'phx_join',
            payload: joinPayloads[i % joinPayloads.length],
            ref: '1',
            join_ref: '1',
          }),
    );
  });
}

function openOne(i: number, andJoin: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(urls[i % urls.length]!, { perMessageDeflate: false, localAddress });
    const timer = setTimeout(() => reject(new Error(`socket ${i}: not open`)), JOIN_TIMEOUT_MS);
    ws.once('error', reject);
    ws.once('open', () => {
      clearTimeout(timer);
      clients.push(ws);
      if (andJoin) join(ws, i).then(resolve, reject);
      else resolve();
    });
  });
}

async function inBatches(count: number, one: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < count; i += CONNECT_BATCH) {
    const batch: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(count, i + CONNECT_BATCH); j++) batch.push(one(j));
    await Promise.all(batch);
  }
}

function cpuSeconds(): number {
  const cpu = process.cpuUsage(cpuAtStart);
  return (cpu.user + cpu.system) / 1e6;
}

function reply(work: Promise<void>, ok: () => Record<string, unknown>): void {
  work.then(
    () => send(ok()),
    (err: unknown) => send({ type: 'error', message: String(err) }),
  );
}

process.on('message', (msg: { cmd: string; perSocket?: number; join?: boolean }) => {
  switch (msg.cmd) {
    case 'connect':
      reply(
        inBatches(sockets, (i) => openOne(i, msg.join !== false)),
        () => ({ type: 'ready', sockets: clients.length }),
      );
      break;
    case 'join':
      reply(
        inBatches(clients.length, (i) => join(clients[i]!, i)),
        () => ({ type: 'joined' }),
      );
      break;
    case 'expect':
      received = 0;
      sampleFrame = '';
      histogram = null;
      target = (msg.perSocket ?? 0) * clients.length;
      doneSent = false;
      cpuAtStart = process.cpuUsage();
      break;
    case 'latency':
      received = 0;
      histogram = new LatencyHistogram();
      cpuAtStart = process.cpuUsage();
      break;
    case 'report':
      send({
        type: 'report',
        received,
        cpuS: cpuSeconds(),
        sampleBytes: Buffer.byteLength(sampleFrame),
        histogram: histogram?.toJSON() ?? null,
      });
      break;
    case 'exit':
      for (const ws of clients) ws.terminate();
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
