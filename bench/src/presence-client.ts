/**
 * Load generator for the presence benchmark (run as a forked child). Opens SOCKETS raw `ws` clients
 * (vsn 1.0.0 object frames), round-robin over the comma-separated URLS, from LOCAL_ADDRESS, and joins
 * each to TOPIC (or, with SOLO_TOPICS=true, a topic of its own) with presence read on and its own
 * key (`<KEY_PREFIX><i>`). Then, on command, its
 * sockets track: payload `{"t_ms":<epoch ms at send>,"n":<counter>,"name":…}`, a new one each time,
 * so every track after the first is an update (one diff: the old meta leaves, the new one joins).
 *
 * Every socket counts the join metas of the `presence_diff` frames it receives, and records receipt
 * time minus the meta's `t_ms` in a 0.1 ms histogram: the track → diff latency at that subscriber.
 *
 * IPC in: {cmd:'connect'} · {cmd:'expect', joins} (every socket should see `joins` join metas) ·
 * {cmd:'track', count, perS} (`count` tracks from this process's sockets in turn, `perS` a second,
 * or all at once when perS is 0) · {cmd:'report'} · {cmd:'exit'}.
 * IPC out: {type:'ready', sockets} · {type:'tracked', firstSendAt, lastOkAt, ok, errors} ·
 * {type:'done', at} (every socket saw its joins) · {type:'report', joins, histogram, cpuS}.
 */
import WebSocket from 'ws';
import { LatencyHistogram, epochMs, sleep } from './util';

const urls = (process.env['URLS'] ?? '').split(',');
const socketCount = Number(process.env['SOCKETS'] ?? '500');
const topic = process.env['TOPIC'] ?? 'realtime:bench-presence';
const keyPrefix = process.env['KEY_PREFIX'] ?? 'k';
/** SOLO_TOPICS=true: socket i joins a topic of its own, `<TOPIC>-<KEY_PREFIX><i>` (no fan-out). */
const isSolo = process.env['SOLO_TOPICS'] === 'true';
const localAddress = process.env['LOCAL_ADDRESS'] || undefined;
const CONNECT_BATCH = 100;
const TIMEOUT_MS = 30_000;
const TICK_MS = 10;

interface Member {
  ws: WebSocket;
  topic: string;
  /** Join metas seen since the last `expect`. */
  joins: number;
}

const members: Member[] = [];
/** Members that have not yet seen `expectedJoins` since the last `expect`. */
let pending = 0;
let expectedJoins = Infinity;
let histogram = new LatencyHistogram();
let trackCounter = 0;
let pendingTrack: { ok: number; errors: number; left: number; lastOkAt: number } | null = null;
let cpuAtStart = process.cpuUsage();
let nextTracker = 0;
let trackStartedAt = 0;

function send(msg: Record<string, unknown>): void {
  process.send?.(msg);
}

/**
 * Counts the join metas of one `presence_diff` frame and times each by its `t_ms`, without parsing
 * the frame: the diff is written `{"joins":{…},"leaves":{…}}`, so every `"t_ms":` between the two
 * belongs to a join (the load generator must not be what limits the run).
 */
function onDiff(member: Member, text: string, at: number): void {
  const joinsAt = text.indexOf('"joins":');
  const leavesAt = text.indexOf('"leaves":', joinsAt);
  for (let i = text.indexOf('"t_ms":', joinsAt); i >= 0 && i < leavesAt; i = text.indexOf('"t_ms":', i + 7)) {
    histogram.add(at - parseFloat(text.slice(i + 7, i + 40)));
    member.joins++;
    if (member.joins === expectedJoins && --pending === 0) send({ type: 'done', at });
  }
}

function onFrame(member: Member, data: WebSocket.RawData): void {
  const at = epochMs();
  const text = data.toString();
  if (text.includes('"presence_diff"')) {
    onDiff(member, text, at);
  } else if (pendingTrack && text.includes('"phx_reply"')) {
    if (text.includes('"status":"ok"')) pendingTrack.ok++;
    else pendingTrack.errors++;
    pendingTrack.lastOkAt = at;
    if (--pendingTrack.left === 0) {
      send({ type: 'tracked', ...pendingTrack, firstSendAt: trackStartedAt });
      pendingTrack = null;
    }
  }
}

function topicOf(i: number): string {
  return isSolo ? `${topic}-${keyPrefix}${i}` : topic;
}

/** Opens one socket, joins TOPIC with presence on, and waits for the `ok` reply. */
function openOne(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(urls[i % urls.length]!, { perMessageDeflate: false, localAddress });
    const timer = setTimeout(() => reject(new Error(`socket ${i}: no join reply`)), TIMEOUT_MS);
    ws.once('error', reject);
    ws.once('open', () => {
      ws.once('message', (data: Buffer) => {
        clearTimeout(timer);
        const text = data.toString();
        if (!text.includes('"phx_reply"') || !text.includes('"ok"')) {
          reject(new Error(`socket ${i}: join refused: ${text.slice(0, 300)}`));
          return;
        }
        const member: Member = { ws, topic: topicOf(i), joins: 0 };
        members.push(member);
        ws.on('message', (d) => onFrame(member, d));
        resolve();
      });
      const config = {
        broadcast: { self: false, ack: false },
        presence: { enabled: true, key: `${keyPrefix}${i}` },
      };
      ws.send(
        JSON.stringify({
          topic: topicOf(i),
          event: 'phx_join',
          payload: { config },
          ref: '1',
          join_ref: '1',
        }),
      );
    });
  });
}

async function connect(): Promise<void> {
  for (let i = 0; i < socketCount; i += CONNECT_BATCH) {
    const batch: Array<Promise<void>> = [];
    for (let j = i; j < Math.min(socketCount, i + CONNECT_BATCH); j++) batch.push(openOne(j));
    await Promise.all(batch);
  }
}

function trackOne(): void {
  const member = members[nextTracker++ % members.length]!;
  const n = ++trackCounter;
  const payload = `{"t_ms":${epochMs().toFixed(3)},"n":${n},"name":"bench user ${nextTracker}"}`;
  member.ws.send(
    `{"topic":${JSON.stringify(member.topic)},"event":"presence","payload":{"type":"presence","event":"track","payload":${payload}},"ref":"t${n}","join_ref":"1"}`,
  );
}

/** Sends `count` tracks: all at once (perS 0), or what is due every 10 ms at `perS`. */
async function track(count: number, perS: number): Promise<void> {
  pendingTrack = { ok: 0, errors: 0, left: count, lastOkAt: 0 };
  trackStartedAt = epochMs();
  let sent = 0;
  while (sent < count) {
    const due =
      perS > 0 ? Math.min(count, Math.floor(((epochMs() - trackStartedAt) / 1000) * perS) + 1) : count;
    for (; sent < due; sent++) trackOne();
    if (sent < count) await sleep(TICK_MS);
  }
}

process.on('message', (msg: { cmd: string; joins?: number; count?: number; perS?: number }) => {
  switch (msg.cmd) {
    case 'connect':
      connect().then(
        () => send({ type: 'ready', sockets: members.length }),
        (err: unknown) => send({ type: 'error', message: String(err) }),
      );
      break;
    case 'expect':
      for (const m of members) m.joins = 0;
      expectedJoins = msg.joins ?? 0;
      pending = members.length;
      histogram = new LatencyHistogram();
      cpuAtStart = process.cpuUsage();
      break;
    case 'track':
      void track(msg.count ?? 0, msg.perS ?? 0);
      break;
    case 'report': {
      const cpu = process.cpuUsage(cpuAtStart);
      send({
        type: 'report',
        joins: members.reduce((a, m) => a + m.joins, 0),
        histogram: histogram.toJSON(),
        cpuS: (cpu.user + cpu.system) / 1e6,
      });
      break;
    }
    case 'exit':
      for (const m of members) m.ws.terminate();
      process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
