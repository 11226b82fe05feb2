/**
 * Load generator for the fan-out benchmark (run as a forked child). Opens SOCKETS raw `ws` clients
 * to URL, joins TOPIC with the legacy Phoenix join (vsn 1.0.0, empty payload), then counts frames.
 * Talks to the parent over IPC: {cmd:'expect', perSocket} → later {type:'done', at, received, cpuS}.
 */
import WebSocket from 'ws';
import { epochMs } from './util';

const url = process.env['URL'] ?? '';
const sockets = Number(process.env['SOCKETS'] ?? '500');
const topic = process.env['TOPIC'] ?? 'realtime:public:t';
const CONNECT_BATCH = 50;
const JOIN_TIMEOUT_MS = 20_000;

const clients: WebSocket[] = [];
let received = 0;
let target = Infinity;
let doneSent = true;
let cpuAtStart = process.cpuUsage();
let sampleFrame = '';

function send(msg: Record<string, unknown>): void {
  process.send?.(msg);
}

function onFrame(data: WebSocket.RawData): void {
  received++;
  if (sampleFrame === '') sampleFrame = data.toString();
  if (!doneSent && received >= target) {
    doneSent = true;
    const cpu = process.cpuUsage(cpuAtStart);
    send({ type: 'done', at: epochMs(), received, cpuS: (cpu.user + cpu.system) / 1e6 });
  }
}

function openOne(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error(`socket ${i}: no join reply`)), JOIN_TIMEOUT_MS);
    ws.once('error', reject);
    ws.once('open', () => {
      ws.send(JSON.stringify({ topic, event: 'phx_join', payload: {}, ref: '1', join_ref: '1' }));
    });
    ws.once('message', (data) => {
      clearTimeout(timer);
      const text = data.toString();
      if (!text.includes('"phx_reply"') || !text.includes('"ok"')) {
        reject(new Error(`socket ${i}: join refused: ${text.slice(0, 300)}`));
        return;
      }
      ws.on('message', onFrame);
      clients.push(ws);
      resolve();
    });
  });
}

async function connectAll(): Promise<void> {
  for (let i = 0; i < sockets; i += CONNECT_BATCH) {
    const batch: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(sockets, i + CONNECT_BATCH); j++) batch.push(openOne(j));
    await Promise.all(batch);
  }
}

process.on('message', (msg: { cmd: string; perSocket?: number }) => {
  if (msg.cmd === 'connect') {
    connectAll().then(
      () => send({ type: 'ready', sockets: clients.length }),
      (err: unknown) => send({ type: 'error', message: String(err) }),
    );
  } else if (msg.cmd === 'expect') {
    received = 0;
    sampleFrame = '';
    target = (msg.perSocket ?? 0) * clients.length;
    doneSent = false;
    cpuAtStart = process.cpuUsage();
  } else if (msg.cmd === 'report') {
    const cpu = process.cpuUsage(cpuAtStart);
    send({
      type: 'report',
      received,
      cpuS: (cpu.user + cpu.system) / 1e6,
      sampleBytes: Buffer.byteLength(sampleFrame),
    });
  } else if (msg.cmd === 'exit') {
    for (const ws of clients) ws.terminate();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
