/**
 * What reached real websocket clients. `PhoenixObserver` behaves as a client application does: it
 * joins the legacy topic `realtime:public:<table>`, sends heartbeats, and when its socket closes (or
 * its channel gets `phx_error`) it reconnects (to the next gateway in its list when the current one
 * refuses) and rejoins. It keeps only delivery counts per row id, never the frames, so a
 * million-row scenario stays small.
 *
 * Resuming, as an application that must not miss a change does: it remembers the highest
 * `position` of the changes it received (or, before its first change, the `position` of the
 * "Subscribed to PostgreSQL" message) and passes it as `since` on every rejoin, so the gateway
 * replays what it missed. When the gateway answers that its history no longer covers that position
 * (a `HistoryGap` system message), it refetches: it reads the table's committed ids from PostgreSQL
 * (`refetch`), which then count as received, apart from deliveries.
 */
import WebSocket, { type RawData } from 'ws';

import { comparePositionTexts } from '@walcast/protocol';
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
  /** Reads every id committed in the table now (an application's refetch after a HistoryGap). */
  refetch(): Promise<number[]>;
}

const HEARTBEAT_MS = 10_000;
/** Pause before a refetch that failed (PostgreSQL away) is tried again. */
const REFETCH_RETRY_MS = 200;

const POSITION_FIELD = '"position":"';

/**
 * The `position` of a change frame: the last field of the ingester's event, so the last one in the
 * frame (no column of the workload's table is named `position`); undefined when there is none.
 */
function positionIn(text: string): string | undefined {
  const at = text.lastIndexOf(POSITION_FIELD);
  if (at < 0) return undefined;
  const from = at + POSITION_FIELD.length;
  const to = text.indexOf('"', from);
  return to > from ? text.slice(from, to) : undefined;
}

/** A reconnecting Phoenix V1 client joined to `realtime:public:<table>`, counting row ids. */
export class PhoenixObserver {
  readonly counts = new IdCounts();
  /** How many times the socket closed while the observer was running. */
  disconnects = 0;
  /** Gateway index of every successful join, in order (the first is the initial one). */
  readonly joinedOn: number[] = [];
  frames = 0;
  /** `phx_error` pushes received (the channel may have missed changes; it rejoins). */
  phxErrors = 0;
  /** Joins sent with `since`. */
  resumes = 0;
  /** `HistoryGap` system messages received. */
  historyGaps = 0;
  /** Refetches completed. */
  refetches = 0;
  /** Other system error messages, by text (e.g. HistoryUnavailable). */
  readonly systemErrors: string[] = [];
  /** The position to resume from: the highest received, or the subscribed one before any change. */
  lastPosition: string | null = null;
  private refetching: Promise<void> = Promise.resolve();
  private pendingRefetches = 0;
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

  /** True while a refetch is asked for or running. */
  get isRefetching(): boolean {
    return this.pendingRefetches > 0;
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
      if (this.lastPosition !== null) this.resumes++;
      this.send(this.topic, 'phx_join', this.lastPosition !== null ? { since: this.lastPosition } : {});
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
      this.heard(positionIn(text));
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
      if (frame.event === 'phx_error') this.phxErrors++;
      this.joined = false;
      this.ws?.close();
      return;
    }
    if (frame.event === 'system') {
      this.system(frame.payload as { status?: unknown; message?: unknown; position?: unknown } | null);
      return;
    }
    const id = recordId(frame.payload);
    if (id === null) return;
    this.counts.add(id);
    const position = (frame.payload as { position?: unknown }).position;
    this.heard(typeof position === 'string' ? position : undefined);
  }

  /** "Subscribed to PostgreSQL" (its position, before any change) or an error (HistoryGap: refetch). */
  private system(payload: { status?: unknown; message?: unknown; position?: unknown } | null): void {
    if (payload === null) return;
    if (payload.status === 'ok') {
      if (this.lastPosition === null && typeof payload.position === 'string')
        this.lastPosition = payload.position;
      return;
    }
    const message = String(payload.message);
    if (message.startsWith('HistoryGap')) {
      this.historyGaps++;
      this.refetch();
    } else {
      this.systemErrors.push(message);
    }
  }

  private heard(position: string | undefined): void {
    if (position === undefined) return;
    if (this.lastPosition === null || comparePositionTexts(position, this.lastPosition) > 0)
      this.lastPosition = position;
  }

  /** Reads the committed ids (after any refetch already asked for), retrying while PostgreSQL is away. */
  private refetch(): void {
    this.pendingRefetches++;
    this.refetching = this.refetching.then(async () => {
      try {
        while (!this.stopped) {
          try {
            for (const id of await this.opts.refetch()) this.counts.addRefetched(id);
            this.refetches++;
            return;
          } catch {
            await new Promise((resolve) => setTimeout(resolve, REFETCH_RETRY_MS));
          }
        }
      } finally {
        this.pendingRefetches--;
      }
    });
  }
}
