/**
 * Baseline for the fan-out benchmark: the least a `ws` server must do. Answers Phoenix joins and
 * heartbeats, subscribes to the table's Redis topic, and for each bus envelope builds one legacy
 * change frame (one Buffer) and calls `send` on every joined socket. No filters, auth or backpressure.
 * Env: PORT, REDIS_URL, TOPIC (Redis channel), FRAME_TOPIC (the channel topic in frames). Prints "ready" on stdout once listening and subscribed.
 */
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import { topicForTable } from '@walcast/protocol';

const port = Number(process.env['PORT'] ?? '0');
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const busTopic = process.env['TOPIC'] ?? topicForTable('public', 't');
const frameTopic = process.env['FRAME_TOPIC'] ?? 'realtime:public:t';
const joined = new Set<WebSocket>();

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    let msg: { topic?: string; event?: string; ref?: string | null; join_ref?: string | null };
    try {
      msg = JSON.parse(data.toString()) as typeof msg;
    } catch {
      return;
    }
    if (msg.event === 'phx_join' || msg.event === 'heartbeat') {
      if (msg.event === 'phx_join') joined.add(ws);
      ws.send(
        JSON.stringify({
          topic: msg.topic,
          event: 'phx_reply',
          payload: { status: 'ok', response: {} },
          ref: msg.ref ?? null,
        }),
      );
    }
  });
  ws.on('close', () => joined.delete(ws));
});

const sub = new Redis(redisUrl);
sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => {
  const newline = message.indexOf(0x0a);
  if (newline < 0) return;
  const event = message.subarray(newline + 1);
  const frame = Buffer.concat([
    Buffer.from(`{"topic":${JSON.stringify(frameTopic)},"event":"INSERT","payload":`),
    event,
    Buffer.from(',"ref":null}'),
  ]);
  for (const ws of joined) ws.send(frame);
});

wss.on('listening', () => {
  sub.subscribe(busTopic).then(
    () => process.stdout.write('ready\n'),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
});
process.on('SIGTERM', () => process.exit(0));
