/**
 * What reached real websocket clients. `PhoenixObserver` behaves as a client application does: it
 * joins the legacy topic `realtime:public:<table>`, sends heartbeats, and when its socket closes it
 * reconnects (to the next gateway in its list when the current one refuses) and rejoins. It keeps
 * only delivery counts per row id, never the frames, so a million-row scenario stays small.
 */
import WebSocket, { type RawData } from 'ws';

import { decodePhoenixFrame, encodePhoenixFrame } from '@walcast/test-utils';

import { IdCounts } from './checker';
import { fastRecordId, recordId } from './row-id';

/** Options for {@link PhoenixObserver}. */
export interface PhoenixObserverOptions {
  /** Gateway websocket URLs (`ws://host:port/socket/websocket`); the first is tried first. */
  endpoints: string[];
  /** Index of the endpoint to start on. */
  start: number;
  table: string;
  /** Pause before reconnecting, as realtime-js's first backoff step. Default 100 ms. */
  reconnectMs?: number;
}

const HEARTBEAT_MS = 10_000;

/** A reconnecting Phoenix V1 client joined to `realtime:public:<table>`, counting row ids. */
export class PhoenixObserver {
  readonly counts = new IdCounts();
  /** How many times the socket closed while the observer was running. */
  disconnects = 0;
  /** Gateway index of every successful join, in order (the first is the initial one). */
  readonly joinedOn: number[] = [];
  frames = 0;
  private endpoint: number;
  private ws: WebSocket | null = null;
  private joined = false;
  private stopped = false;
  private ref = 0;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly topic: string;

  constructor(
    readonly name: string,
    private readonly opts: PhoenixObserverOptions,
  ) {
    this.endpoint = opts.start;
    this.topic = `realtime:public:${opts.table}`;
  }

  /** True while joined. */
  get isJoined(): boolean {
    return this.joined;
  }

  /** Starts connecting; see {@link isJoined}. */
  start(): void {
    this.connect();
    this.heartbeat = setInterval(() => this.send('phoenix', 'heartbeat', {}), HEARTBEAT_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.ws?.terminate();
  }

  private connect(): void {
    if (this.stopped) return;
    const url = `${this.opts.endpoints[this.endpoint]}?vsn=1.0.0`;
    const ws = new WebSocket(url, { handshakeTimeout: 5000 });
    this.ws = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.send(this.topic, 'phx_join', {});
    });
    ws.on('message', (data: RawData) => this.receive(data));
    ws.on('error', () => undefined); // 'close' follows
    ws.on('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.joined = false;
      if (this.stopped) return;
      this.disconnects++;
      // A refused or failed connection moves on to the next gateway, as a load balancer would.
      if (!opened) this.endpoint = (this.endpoint + 1) % this.opts.endpoints.length;
      setTimeout(() => this.connect(), this.opts.reconnectMs ?? 100);
    });
  }

  private send(topic: string, event: string, payload: Record<string, unknown>): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    this.ref++;
    const ref = String(this.ref);
    this.ws.send(encodePhoenixFrame({ topic, event, payload, ref, joinRef: ref }, '1.0.0'));
  }

  private receive(data: RawData): void {
    this.frames++;
    const text = String(data);
    const fastId = this.joined ? fastRecordId(text) : undefined;
    if (fastId != null) {
      this.counts.add(fastId);
      return;
    }
    const frame = decodePhoenixFrame(text);
    if (frame.topic !== this.topic) return;
    if (frame.event === 'phx_reply') {
      const status = (frame.payload as { status?: unknown } | null)?.status;
      if (status === 'ok' && !this.joined) {
        this.joined = true;
        this.joinedOn.push(this.endpoint);
      } else if (status !== 'ok') {
        this.ws?.close(); // rejoin from scratch, as a client whose join failed would
      }
      return;
    }
    if (frame.event === 'phx_close' || frame.event === 'phx_error') {
      this.joined = false;
      this.ws?.close();
      return;
    }
    const id = recordId(frame.payload);
    if (id !== null) this.counts.add(id);
  }
}
