/**
 * `pnpm watch <topic>`: joins a channel on a running gateway and prints every frame, the quickest
 * way to see a change arrive. `WALCAST_URL` overrides the default ws://127.0.0.1:4000/socket/websocket;
 * `WALCAST_TOKEN` is sent as the connect token, else the anon key of `pnpm dev --secure` when it
 * runs (`.walcast/dev.json`).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import WebSocket from 'ws';
import { devInfoPath, type DevInfo } from './dev-info';

/** The token to connect with, or null (channels are open). */
function token(): string | null {
  if (process.env.WALCAST_TOKEN) return process.env.WALCAST_TOKEN;
  try {
    const info = JSON.parse(readFileSync(devInfoPath(resolve(__dirname, '../../..')), 'utf8')) as DevInfo;
    return info.anonKey ?? null;
  } catch {
    return null; // no `pnpm dev` running from this checkout: connect without a token
  }
}

const topic = process.argv[2] ?? 'realtime:*';
const url = process.env.WALCAST_URL ?? `ws://127.0.0.1:${process.env.PORT ?? 4000}/socket/websocket`;
const apikey = token();
const ws = new WebSocket(`${url}?vsn=1.0.0${apikey ? `&apikey=${encodeURIComponent(apikey)}` : ''}`);
ws.on('open', () => {
  ws.send(JSON.stringify({ topic, event: 'phx_join', payload: {}, ref: '1', join_ref: '1' }));
  setInterval(
    () => ws.send(JSON.stringify({ topic: 'phoenix', event: 'heartbeat', payload: {}, ref: 'hb' })),
    25_000,
  ).unref();
  process.stdout.write(`watching ${topic} on ${url} (Ctrl-C to stop)\n`);
});
ws.on('message', (data) => process.stdout.write(`${String(data)}\n`));
ws.on('close', (code) => {
  process.stdout.write(`closed (${code})\n`);
  process.exit(code === 1000 ? 0 : 1);
});
ws.on('error', (err) => {
  process.stderr.write(`walcast watch: ${err.message}\n`);
  process.exit(1);
});
