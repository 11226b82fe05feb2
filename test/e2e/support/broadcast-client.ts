/**
 * Broadcast through the published @supabase/realtime-js 2.x, as applications use it, with every
 * websocket frame the client sends and receives recorded (so tests can assert that vsn 2.0.0 sends
 * binary kind 3 and receives kind 4), plus the byte layouts of kinds 3 and 4 written out here,
 * independently of the gateway's codec, for frame-level tests.
 *
 * Ordering: the gateway keeps one sender's messages on one topic in order, on every gateway (one
 * Redis channel per topic). So once a later message from the same sender has arrived, an earlier
 * one that did not arrive never will; tests use that instead of sleeping to prove "nothing came".
 */
import WebSocket, { type RawData } from 'ws';
import {
  REALTIME_SUBSCRIBE_STATES,
  RealtimeClient,
  type RealtimeChannel,
  type RealtimeSystemPayload,
  type WebSocketLikeConstructor,
} from '@supabase/realtime-js';
import { waitFor } from '@walcast/test-utils';
import { disconnect, type Vsn } from './modern-client';

/** One websocket frame as it crossed the wire, seen from the client. */
export interface WireFrame {
  dir: 'in' | 'out';
  binary: boolean;
  bytes: Buffer;
}

function toBuffer(data: RawData | ArrayBuffer | ArrayBufferView | string): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** `ws` as realtime-js's transport, appending every frame either way to `frames`. */
export function recordingTransport(frames: WireFrame[]): WebSocketLikeConstructor {
  class RecordingWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      super(address, protocols);
      this.on('message', (data: RawData, isBinary: boolean) =>
        frames.push({ dir: 'in', binary: isBinary, bytes: toBuffer(data) }),
      );
      const send = this.send.bind(this);
      this.send = ((data: string | ArrayBuffer, ...rest: never[]) => {
        frames.push({ dir: 'out', binary: typeof data !== 'string', bytes: toBuffer(data) });
        return send(data, ...rest);
      }) as typeof this.send;
    }
  }
  // The cast bridges the `ws` constructor's `address: null` overload, which realtime-js never uses.
  return RecordingWebSocket as unknown as WebSocketLikeConstructor;
}

/** What a `.on('broadcast', { event: '*' })` callback receives. */
export interface Broadcast {
  type: 'broadcast';
  event: string;
  payload?: unknown;
  meta?: unknown;
  [key: string]: unknown;
}

/** One subscribed channel and everything its callbacks got. */
export class BroadcastChannel {
  readonly received: Broadcast[] = [];
  readonly system: RealtimeSystemPayload[] = [];
  readonly statuses: Array<{ status: REALTIME_SUBSCRIBE_STATES; err?: Error }> = [];

  /** Listens to every broadcast event and `system` on `channel`, and subscribes it. */
  constructor(readonly channel: RealtimeChannel) {
    channel.on('broadcast', { event: '*' }, (payload) => this.received.push(payload as Broadcast));
    channel.on('system', {}, (payload: RealtimeSystemPayload) => this.system.push(payload));
    channel.subscribe((status, err) => this.statuses.push(err ? { status, err } : { status }));
  }

  /** Resolves once SUBSCRIBED; rejects at once on any other status. */
  async ready(timeoutMs = 10_000): Promise<this> {
    await waitFor(
      () => {
        const failed = this.statuses.find((s) => s.status !== REALTIME_SUBSCRIBE_STATES.SUBSCRIBED);
        if (failed) throw new Error(`${this.channel.topic}: ${failed.status} ${failed.err?.message ?? ''}`);
        return this.statuses.length > 0;
      },
      { timeoutMs, message: `SUBSCRIBED on ${this.channel.topic}` },
    );
    return this;
  }

  /** How many times the subscribe callback reported SUBSCRIBED. */
  get subscribedCount(): number {
    return this.statuses.filter((s) => s.status === REALTIME_SUBSCRIBE_STATES.SUBSCRIBED).length;
  }

  /** Waits for a subscribe status (e.g. CHANNEL_ERROR, CLOSED), whatever came before it. */
  waitForStatus(
    status: REALTIME_SUBSCRIBE_STATES,
    timeoutMs = 10_000,
  ): Promise<{ status: REALTIME_SUBSCRIBE_STATES; err?: Error }> {
    return waitFor(() => this.statuses.find((s) => s.status === status), {
      timeoutMs,
      message: `${status} on ${this.channel.topic}; got ${JSON.stringify(this.statuses)}`,
    });
  }

  /**
   * `channel.send` of a broadcast; resolves 'ok', 'error' or 'timed out' as realtime-js does.
   * Without `ack` realtime-js resolves 'ok' at once but still arms its push timeout (10 s) for a
   * reply that never comes, which would keep jest alive after the tests; a 1 ms timeout changes
   * nothing else then.
   */
  send(event: string, payload: unknown): Promise<string> {
    const isAcked = (this.channel.params.config.broadcast as { ack?: unknown } | undefined)?.ack === true;
    return this.channel.send({ type: 'broadcast', event, payload }, isAcked ? {} : { timeout: 1 });
  }

  /** Waits for the first broadcast matching `predicate`. */
  waitFor(predicate: (b: Broadcast) => boolean, timeoutMs = 10_000): Promise<Broadcast> {
    return waitFor(() => this.received.find(predicate), {
      timeoutMs,
      message: `a matching broadcast on ${this.channel.topic}; got ${describe(this.received)}`,
    });
  }

  /** Waits for a broadcast of `event`. */
  waitForEvent(event: string, timeoutMs = 10_000): Promise<Broadcast> {
    return this.waitFor((b) => b.event === event, timeoutMs);
  }

  /** Waits until `count` broadcasts have arrived, and resolves with all of them. */
  waitForCount(count: number, timeoutMs = 10_000): Promise<Broadcast[]> {
    return waitFor(() => (this.received.length >= count ? this.received : undefined), {
      timeoutMs,
      message: `${count} broadcasts on ${this.channel.topic}; got ${this.received.length}`,
    });
  }

  /** Waits for a `system` payload matching `predicate`. */
  waitForSystem(
    predicate: (p: RealtimeSystemPayload) => boolean,
    timeoutMs = 10_000,
  ): Promise<RealtimeSystemPayload> {
    return waitFor(() => this.system.find(predicate), {
      timeoutMs,
      message: `system message on ${this.channel.topic}; got ${JSON.stringify(this.system)}`,
    });
  }
}

function describe(received: Broadcast[]): string {
  return JSON.stringify(received.slice(-5).map((b) => b.event)) + ` (${received.length} in all)`;
}

/** A realtime-js 2.x `RealtimeClient` of one protocol version, recording its frames. */
export class BroadcastClient {
  readonly frames: WireFrame[] = [];
  readonly client: RealtimeClient;

  constructor(
    endpoint: string,
    readonly vsn: Vsn,
  ) {
    this.client = new RealtimeClient(endpoint, {
      params: { apikey: 'any-key' },
      transport: recordingTransport(this.frames),
      vsn,
    });
    this.client.connect();
  }

  /** Creates channel `name` with `config` (realtime-js defaults the rest), listens and subscribes. */
  channel(name: string, config: Record<string, unknown> = {}): BroadcastChannel {
    return new BroadcastChannel(this.client.channel(name, { config }));
  }

  /** Frames sent (`out`) or received (`in`) so far. */
  sent(dir: 'in' | 'out'): WireFrame[] {
    return this.frames.filter((f) => f.dir === dir);
  }

  close(): Promise<void> {
    return disconnect(this.client);
  }
}

/** Fields of a vsn 2.0.0 kind-3 frame (user broadcast push, client → server). */
export interface Kind3 {
  joinRef: string;
  ref: string;
  topic: string;
  event: string;
  meta: string;
  /** 1 = JSON, 0 = binary. */
  enc: number;
  payload: Buffer;
}

/**
 * Encodes kind 3: `3 | len(join_ref) | len(ref) | len(topic) | len(event) | len(meta) | enc |
 * join_ref | ref | topic | event | meta | payload` (lengths are one byte each).
 */
export function encodeKind3(f: Kind3): Buffer {
  const parts = [f.joinRef, f.ref, f.topic, f.event, f.meta].map((s) => Buffer.from(s, 'utf8'));
  return Buffer.concat([Buffer.from([3, ...parts.map((p) => p.length), f.enc]), ...parts, f.payload]);
}

/** Decodes kind 3 (what realtime-js sent); throws when `bytes` is not one. */
export function decodeKind3(bytes: Buffer): Kind3 {
  if (bytes[0] !== 3) throw new Error(`not kind 3: first byte ${bytes[0]}`);
  const lens = [...bytes.subarray(1, 6)];
  let at = 7;
  const [joinRef, ref, topic, event, meta] = lens.map((n) => bytes.subarray(at, (at += n)).toString('utf8'));
  return {
    joinRef: joinRef!,
    ref: ref!,
    topic: topic!,
    event: event!,
    meta: meta!,
    enc: bytes[6]!,
    payload: bytes.subarray(at),
  };
}

/** Fields of a vsn 2.0.0 kind-4 frame (user broadcast, server → client). */
export interface Kind4 {
  topic: string;
  event: string;
  meta: string;
  enc: number;
  payload: Buffer;
}

/** Decodes kind 4: `4 | len(topic) | len(event) | len(meta) | enc | topic | event | meta | payload`. */
export function decodeKind4(bytes: Buffer): Kind4 {
  if (bytes[0] !== 4) throw new Error(`not kind 4: first byte ${bytes[0]}`);
  const lens = [...bytes.subarray(1, 4)];
  let at = 5;
  const [topic, event, meta] = lens.map((n) => bytes.subarray(at, (at += n)).toString('utf8'));
  return { topic: topic!, event: event!, meta: meta!, enc: bytes[4]!, payload: bytes.subarray(at) };
}

/** The `Object.prototype.toString` tag: realm-independent (jest runs tests in their own realm). */
export const tagOf = (value: unknown): string => Object.prototype.toString.call(value);
