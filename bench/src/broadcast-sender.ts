/**
 * The sending side of the broadcast benchmark: one raw `ws` client per server, each joined to the
 * channel with `config.broadcast` {self: false (realtime-js's default; or true), ack: false}, taking
 * turns to push. A message is a vsn
 * 1.0.0 JSON object push or a vsn 2.0.0 binary kind-3 frame (JSON payload); its payload starts with
 * `"t_ms":<epoch ms at send>` so receivers can time it (fanout-client.ts reads that field).
 */
import WebSocket from 'ws';
import { encodeUserBroadcastPush } from '@walcast/protocol';
import { epochMs, sleep } from './util';

export type BroadcastVsn = '1.0.0' | '2.0.0';

const JOIN_TIMEOUT_MS = 10_000;
const TICK_MS = 10;
/** The join payload of a socket in the benchmark: realtime-js's defaults unless `self`. */
export function broadcastJoinPayload(self = false): Record<string, unknown> {
  return { config: { broadcast: { self, ack: false } } };
}

/** `url` with its query replaced by `?vsn=<vsn>`. */
export function withVsn(url: string, vsn: BroadcastVsn): string {
  return `${url.split('?')[0]!}?vsn=${vsn}`;
}

export class BroadcastSender {
  private next = 0;

  private constructor(
    private readonly sockets: WebSocket[],
    private readonly topic: string,
    private readonly vsn: BroadcastVsn,
  ) {}

  /** Connects to every URL (already carrying `?vsn=`) and joins `topic` on each, with `self`. */
  static async open(
    urls: readonly string[],
    topic: string,
    vsn: BroadcastVsn,
    self: boolean,
  ): Promise<BroadcastSender> {
    const payload = broadcastJoinPayload(self);
    const sockets = await Promise.all(urls.map((url) => joinOne(url, topic, vsn, payload)));
    return new BroadcastSender(sockets, topic, vsn);
  }

  /** Pushes message `i` from the next socket in turn, stamped with the current time. */
  send(i: number): void {
    const ws = this.sockets[this.next++ % this.sockets.length]!;
    const payload = `{"t_ms":${epochMs().toFixed(3)},"i":${i},"text":"a broadcast from the benchmark"}`;
    if (this.vsn === '2.0.0') {
      ws.send(
        encodeUserBroadcastPush({
          joinRef: '1',
          ref: String(i),
          topic: this.topic,
          event: 'bench',
          meta: null,
          json: true,
          payload: Buffer.from(payload),
        }),
      );
      return;
    }
    ws.send(
      `{"topic":${JSON.stringify(this.topic)},"event":"broadcast","payload":{"type":"broadcast","event":"bench","payload":${payload}},"ref":"${i}"}`,
    );
  }

  /** Sends `count` messages at `perS`, what is due every 10 ms; resolves with the epoch ms of the first. */
  async sendAtRate(count: number, perS: number): Promise<number> {
    const t0 = epochMs();
    let sent = 0;
    while (sent < count) {
      const due = Math.min(count, Math.floor(((epochMs() - t0) / 1000) * perS) + 1);
      for (; sent < due; sent++) this.send(sent);
      await sleep(TICK_MS);
    }
    return t0;
  }

  close(): void {
    for (const ws of this.sockets) ws.terminate();
  }
}

function joinOne(
  url: string,
  topic: string,
  vsn: BroadcastVsn,
  payload: Record<string, unknown>,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`broadcast sender: no join reply from ${url}`));
    }, JOIN_TIMEOUT_MS);
    ws.once('error', reject);
    ws.once('open', () => {
      ws.once('message', (data: Buffer) => {
        clearTimeout(timer);
        const text = data.toString();
        if (text.includes('"phx_reply"') && text.includes('"ok"')) resolve(ws);
        else reject(new Error(`broadcast sender: join refused: ${text.slice(0, 300)}`));
      });
      ws.send(
        vsn === '2.0.0'
          ? JSON.stringify(['1', '1', topic, 'phx_join', payload])
          : JSON.stringify({
              topic,
              event: 'phx_join',
              payload,
              ref: '1',
              join_ref: '1',
            }),
      );
    });
  });
}
