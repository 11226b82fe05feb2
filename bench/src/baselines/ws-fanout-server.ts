/**
 * Baseline for the fan-out and broadcast benchmarks: the least a `ws` server must do. Answers
 * Phoenix joins and heartbeats (vsn 1.0.0 objects or vsn 2.0.0 arrays) and relays, building each
 * frame once (one Buffer) and calling `send` on every joined socket:
 *
 * - every bus envelope on the table's Redis topic TOPIC, as a legacy change frame;
 * - every `broadcast` a client pushes (JSON, or a vsn 2.0.0 binary kind-3 frame, relayed as kind 4)
 *   to every other joined socket; with BROADCAST_TOPIC set, also PUBLISHed there (prefixed with this
 *   process's id) so the other baseline servers relay it to theirs, and their messages to this one's.
 *
 * No filters, auth, rate limits or backpressure. Env: PORT, REDIS_URL, TOPIC (Redis channel),
 * FRAME_TOPIC (the channel topic in change frames), BROADCAST_TOPIC (optional). Prints "ready" on
 * stdout once listening and subscribed.
 */
import { Redis } from 'ioredis';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeUserBroadcastPush, encodeUserBroadcast, topicForTable } from '@walcast/protocol';

const port = Number(process.env['PORT'] ?? '0');
const redisUrl = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const busTopic = process.env['TOPIC'] ?? topicForTable('public', 't');
const frameTopic = process.env['FRAME_TOPIC'] ?? 'realtime:public:t';
const broadcastTopic = process.env['BROADCAST_TOPIC'] ?? '';
/** This process's prefix on BROADCAST_TOPIC: `<id>` then `t` (text frame) or `b` (binary), then the frame. */
const relayId = Buffer.from(`${process.pid}:`);
const joined = new Set<WebSocket>();

type Message = { topic?: string; event?: string; ref?: string | null; payload?: unknown };

/** A text frame's message, whichever vsn it is in; whether it was an array (vsn 2.0.0). */
function parse(text: string): { msg: Message; array: boolean } | null {
  try {
    const value = JSON.parse(text) as unknown;
    if (Array.isArray(value)) {
      const [, ref, topic, event, payload] = value as [unknown, string | null, string, string, unknown];
      return { msg: { ref, topic, event, payload }, array: true };
    }
    return { msg: value as Message, array: false };
  } catch {
    return null;
  }
}

function relay(from: WebSocket | null, frame: Buffer, binary: boolean): void {
  for (const ws of joined) if (ws !== from) ws.send(frame, { binary });
  if (from && pub) {
    pub
      .publish(broadcastTopic, Buffer.concat([relayId, Buffer.from(binary ? 'b' : 't'), frame]))
      .catch((err: unknown) => console.error(err));
  }
}

function onText(ws: WebSocket, text: string): void {
  const parsed = parse(text);
  if (!parsed) return;
  const { msg, array } = parsed;
  if (msg.event === 'broadcast') {
    const frame = array
      ? `[null,null,${JSON.stringify(msg.topic)},"broadcast",${JSON.stringify(msg.payload)}]`
      : `{"topic":${JSON.stringify(msg.topic)},"event":"broadcast","payload":${JSON.stringify(msg.payload)},"ref":null}`;
    relay(ws, Buffer.from(frame), false);
    return;
  }
  if (msg.event !== 'phx_join' && msg.event !== 'heartbeat') return;
  if (msg.event === 'phx_join') joined.add(ws);
  const payload = { status: 'ok', response: {} };
  ws.send(
    array
      ? JSON.stringify([msg.ref, msg.ref, msg.topic, 'phx_reply', payload])
      : JSON.stringify({ topic: msg.topic, event: 'phx_reply', payload, ref: msg.ref ?? null }),
  );
}

function onBinary(ws: WebSocket, data: Buffer): void {
  const push = decodeUserBroadcastPush(data);
  const frame = encodeUserBroadcast(
    push.topic,
    push.event,
    push.meta ? JSON.stringify(push.meta) : '',
    push.json,
    push.payload,
  );
  if (frame) relay(ws, frame, true);
}

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data: Buffer, isBinary) => {
    try {
      if (isBinary) onBinary(ws, data);
      else onText(ws, data.toString());
    } catch (err) {
      console.error(err);
    }
  });
  ws.on('close', () => joined.delete(ws));
});

const pub = broadcastTopic !== '' ? new Redis(redisUrl) : null;
const sub = new Redis(redisUrl);
sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
  if (broadcastTopic !== '' && channel.toString() === broadcastTopic) {
    if (message.subarray(0, relayId.length).equals(relayId)) return; // its own, relayed already
    const colon = message.indexOf(0x3a);
    relay(null, message.subarray(colon + 2), message[colon + 1] === 0x62);
    return;
  }
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
  const topics = broadcastTopic !== '' ? [busTopic, broadcastTopic] : [busTopic];
  sub.subscribe(...topics).then(
    () => process.stdout.write('ready\n'),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
});
process.on('SIGTERM', () => process.exit(0));
