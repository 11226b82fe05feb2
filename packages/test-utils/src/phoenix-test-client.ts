import WebSocket, { type RawData } from 'ws';

import {
  binaryFrame,
  decodePhoenixFrame,
  encodePhoenixFrame,
  type FramePayload,
  type PhoenixFrame,
  type PhoenixMessage,
  type PhoenixVsn,
} from './phoenix-frame';

/** Options for {@link PhoenixTestClient.connect}. */
export interface PhoenixConnectOptions {
  /** Serializer version, added as `?vsn=` unless the URL has one. Default `1.0.0`. */
  vsn?: PhoenixVsn;
  /** Extra HTTP headers for the upgrade request. */
  headers?: Record<string, string>;
}

/** Why a socket closed. */
export interface CloseInfo {
  code: number;
  reason: string;
}

/** The server refused the websocket upgrade; `statusCode` and `body` come from its HTTP response. */
export class WebSocketUpgradeError extends Error {
  constructor(
    readonly statusCode: number,
    readonly body: string,
  ) {
    super(`websocket upgrade refused with HTTP ${statusCode}: ${body.slice(0, 200)}`);
    this.name = 'WebSocketUpgradeError';
  }
}

interface Waiter {
  predicate: (frame: PhoenixFrame) => boolean;
  resolve: (frame: PhoenixFrame) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * A raw Phoenix-channels websocket client for frame-level tests of the gateway.
 *
 * Guarantees: every received frame is appended to `frames` in arrival order, from the moment the
 * socket opens. {@link next} hands each frame to at most one caller (frames are "consumed"), so
 * two `next` calls never resolve with the same frame, and frames that arrived before the call count.
 * Pending `next` calls reject as soon as the socket closes instead of waiting for their timeout.
 */
export class PhoenixTestClient {
  /** Every frame received so far, consumed or not. */
  readonly frames: PhoenixFrame[] = [];
  /** Resolves once the socket has closed, with the close code and reason. */
  readonly closed: Promise<CloseInfo>;
  private readonly consumed = new WeakSet<PhoenixFrame>();
  private waiters: Waiter[] = [];
  private lastRef = 0;
  private readonly joinRefs = new Map<string, string>();
  private closeInfo: CloseInfo | null = null;

  private constructor(
    private readonly ws: WebSocket,
    readonly vsn: PhoenixVsn,
  ) {
    ws.on('message', (data: RawData, isBinary: boolean) => this.receive(data, isBinary));
    this.closed = new Promise((resolve) => {
      ws.on('close', (code: number, reason: Buffer) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        for (const waiter of this.waiters.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.reject(
            new Error(`socket closed (${code} ${this.closeInfo.reason}) before a matching frame arrived`),
          );
        }
        resolve(this.closeInfo);
      });
    });
  }

  /**
   * Opens a socket and resolves once it is open. Rejects with a {@link WebSocketUpgradeError}
   * (`err.statusCode`) when the server answers the upgrade with an HTTP response instead, and with
   * a plain error when the connection fails or the handshake takes over 10 s.
   */
  static connect(url: string, opts: PhoenixConnectOptions = {}): Promise<PhoenixTestClient> {
    const target = new URL(url);
    if (!target.searchParams.has('vsn')) target.searchParams.set('vsn', opts.vsn ?? '1.0.0');
    const vsn: PhoenixVsn = target.searchParams.get('vsn') === '2.0.0' ? '2.0.0' : '1.0.0';
    const ws = new WebSocket(target, { headers: opts.headers ?? {}, handshakeTimeout: 10_000 });
    const client = new PhoenixTestClient(ws, vsn);
    return new Promise((resolve, reject) => {
      ws.on('error', reject); // later errors also end in 'close', which is what tests observe
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          req.destroy();
          reject(new WebSocketUpgradeError(res.statusCode ?? 0, body));
        });
      });
    });
  }

  /** True until the socket starts closing. */
  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a message in the negotiated encoding. A missing `ref` gets the next number; a missing
   * `joinRef` is the ref of the last {@link join} of that topic (or null). Returns the ref used.
   */
  send(msg: PhoenixMessage): string | null {
    const ref = msg.ref === undefined ? this.nextRef() : msg.ref;
    const joinRef = msg.joinRef === undefined ? (this.joinRefs.get(msg.topic) ?? null) : msg.joinRef;
    this.ws.send(encodePhoenixFrame({ ...msg, ref, joinRef }, this.vsn));
    return ref;
  }

  /** Sends bytes as they are (a string as a text frame, a Buffer as a binary frame). */
  sendRaw(data: string | Buffer): void {
    this.ws.send(data, { binary: Buffer.isBuffer(data) });
  }

  /**
   * Resolves with the first not-yet-consumed frame matching `predicate`, received before or after
   * the call, and marks it consumed. Rejects after `timeoutMs` (listing the recent frames) or when
   * the socket closes first.
   */
  next(predicate: (frame: PhoenixFrame) => boolean, timeoutMs = 5000): Promise<PhoenixFrame> {
    const existing = this.frames.find((f) => !this.consumed.has(f) && predicate(f));
    if (existing !== undefined) {
      this.consumed.add(existing);
      return Promise.resolve(existing);
    }
    if (this.closeInfo !== null) {
      return Promise.reject(new Error(`socket already closed (${this.closeInfo.code}); no matching frame`));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        predicate,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(
            new Error(`no matching frame within ${timeoutMs} ms; last frames:\n${this.describeRecent()}`),
          );
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends `phx_join` (ref = join ref) and resolves with its `phx_reply`, whatever its status. */
  join(topic: string, payload: FramePayload = {}, timeoutMs = 5000): Promise<PhoenixFrame> {
    const ref = this.nextRef();
    this.joinRefs.set(topic, ref);
    this.send({ topic, event: 'phx_join', payload, ref, joinRef: ref });
    return this.reply(topic, ref, timeoutMs);
  }

  /** Sends `phx_leave` for `topic` and resolves with its `phx_reply`. */
  async leave(topic: string, timeoutMs = 5000): Promise<PhoenixFrame> {
    const ref = this.send({ topic, event: 'phx_leave', payload: {} });
    const reply = await this.reply(topic, ref, timeoutMs);
    this.joinRefs.delete(topic);
    return reply;
  }

  /** Sends a `heartbeat` on the `phoenix` topic and resolves with its `phx_reply`. */
  heartbeat(timeoutMs = 5000): Promise<PhoenixFrame> {
    const ref = this.send({ topic: 'phoenix', event: 'heartbeat', payload: {}, joinRef: null });
    return this.reply('phoenix', ref, timeoutMs);
  }

  /** All frames for `topic` (and `event`, if given), consumed or not, in arrival order. */
  framesFor(topic: string, event?: string): PhoenixFrame[] {
    return this.frames.filter((f) => f.topic === topic && (event === undefined || f.event === event));
  }

  /** Closes the socket with a close frame and resolves once it is closed. */
  close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    return this.closed;
  }

  /** Drops the TCP connection without a close frame (a client vanishing). */
  terminate(): Promise<CloseInfo> {
    this.ws.terminate();
    return this.closed;
  }

  private reply(topic: string, ref: string | null, timeoutMs: number): Promise<PhoenixFrame> {
    return this.next((f) => f.event === 'phx_reply' && f.topic === topic && f.ref === ref, timeoutMs);
  }

  private nextRef(): string {
    this.lastRef += 1;
    return String(this.lastRef);
  }

  private receive(data: RawData, isBinary: boolean): void {
    const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
    const frame = isBinary ? binaryFrame(buf) : decodePhoenixFrame(buf.toString('utf8'));
    this.frames.push(frame);
    const index = this.waiters.findIndex((w) => w.predicate(frame));
    const waiter = this.waiters[index];
    if (waiter === undefined) return;
    this.waiters.splice(index, 1);
    clearTimeout(waiter.timer);
    this.consumed.add(frame);
    waiter.resolve(frame);
  }

  private describeRecent(): string {
    const recent = this.frames
      .slice(-10)
      .map((f) => (f.binary ? '  <binary>' : `  ${String(f.raw).slice(0, 300)}`));
    return recent.length > 0 ? recent.join('\n') : '  (none)';
  }
}
