/**
 * The observers: what reached Redis, and what reached real websocket clients.
 *
 * `RedisObserver` is a pattern subscriber on every walcast table topic. Redis pub/sub keeps
 * nothing for a disconnected subscriber, so it records each interval during which it was not
 * subscribed (from the moment its connection closed to the moment a new PSUBSCRIBE was confirmed);
 * the harness uses those intervals to define loss for the Redis restart (see docs/fault-injection.md).
 *
 * `PhoenixObserver` behaves as a client application does: it joins the legacy topic
 * `realtime:public:<table>`, sends heartbeats, and when its socket closes it reconnects (to the next
 * gateway in its list when the current one refuses) and rejoins. It keeps only delivery counts per
 * row id, never the frames, so a million-row scenario stays small.
 */
import { Redis } from 'ioredis';
import WebSocket, { type RawData } from 'ws';

import { decodeBusMessage, patternForAll } from '@walcast/protocol';
import { decodePhoenixFrame, encodePhoenixFrame } from '@walcast/test-utils';

import { IdCounts } from './checker';

/** Reads the integer `id` of an event's `record`; null when there is none. */
function recordId(event: unknown): number | null {
  if (typeof event !== 'object' || event === null) return null;
  const record = (event as { record?: unknown }).record;
  if (typeof record !== 'object' || record === null) return null;
  const id = (record as { id?: unknown }).id;
  return typeof id === 'number' ? id : null;
}

/**
 * The row id of a change, read without parsing the whole text when the record starts with `id`
 * (the ingester writes columns in table order, and `id` is the first column of the workload's
 * table): a million-row scenario is otherwise dominated by the observers' own JSON parsing.
 */
const FAST_ID = /"record":\{"id":(\d+)[,}]/;

function fastRecordId(text: string): number | null | undefined {
  const match = FAST_ID.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** A Redis subscriber on every table topic (`patternForAll()`) that counts deliveries per row id. */
export class RedisObserver {
  readonly name = 'redis';
  readonly counts = new IdCounts();
  /** Intervals [from, to] (epoch ms) during which this subscriber was not subscribed. */
  readonly unsubscribed: Array<{ from: number; to: number }> = [];
  /** Messages that did not decode as bus envelopes. */
  malformed = 0;
  /** When the last message arrived (epoch ms), or when the observer opened. */
  lastDeliveryAt = Date.now();
  private downSince: number | null = null;
  private readonly client: Redis;

  private constructor(url: string) {
    // Reconnects every 20 ms and subscribes again itself, so that the time it was away is known.
    this.client = new Redis(url, {
      maxRetriesPerRequest: null,
      retryStrategy: () => 20,
      autoResubscribe: false,
      lazyConnect: true,
      connectionName: 'walcast-faults-observer',
    });
    this.client.on('error', () => undefined);
    this.client.on('close', () => {
      this.downSince ??= Date.now();
    });
    this.client.on('ready', () => {
      if (this.downSince === null) return;
      void this.subscribe().catch(() => undefined); // a failure closes the connection; 'ready' comes again
    });
    this.client.on('pmessage', (_pattern: string, _channel: string, text: string) => {
      let id: number | null;
      try {
        const { eventJson } = decodeBusMessage(text);
        id = fastRecordId(eventJson) ?? recordId(JSON.parse(eventJson));
      } catch {
        this.malformed++;
        return;
      }
      if (id !== null) this.counts.add(id);
      this.lastDeliveryAt = Date.now();
    });
  }

  /** Connects and resolves once the PSUBSCRIBE is confirmed. */
  static async open(url: string): Promise<RedisObserver> {
    const observer = new RedisObserver(url);
    await observer.client.connect();
    await observer.client.psubscribe(patternForAll());
    return observer;
  }

  /** True while subscribed. */
  get isSubscribed(): boolean {
    return this.downSince === null;
  }

  async close(): Promise<void> {
    this.client.disconnect();
    await Promise.resolve();
  }

  private async subscribe(): Promise<void> {
    await this.client.psubscribe(patternForAll());
    if (this.downSince !== null) this.unsubscribed.push({ from: this.downSince, to: Date.now() });
    this.downSince = null;
  }
}

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
