/**
 * `pnpm watch <topic>`: joins a channel on a running gateway and prints every frame, the quickest
 * way to see a change arrive. `WALCAST_URL` overrides the default ws://127.0.0.1:4000/socket/websocket.
 */
import WebSocket from 'ws';

const topic = process.argv[2] ?? 'realtime:*';
const url = process.env.WALCAST_URL ?? `ws://127.0.0.1:${process.env.PORT ?? 4000}/socket/websocket`;
const ws = new WebSocket(`${url}?vsn=1.0.0`);
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
