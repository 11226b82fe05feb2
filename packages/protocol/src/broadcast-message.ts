/**
 * The bus envelope of a broadcast message: what one Redis PUBLISH on a broadcast topic carries
 * (topics.ts names those topics). Like a change envelope, two parts joined by the first newline: a
 * JSON header, then the payload text, which the gateway splices into frames without parsing it.
 *
 * Shapes, after how each origin is delivered (the same frames as Supabase Realtime):
 * - `map`: a client map passed through unchanged, the `payload` of a `broadcast` push sent as JSON
 *   (a vsn 1.0.0 object or a vsn 2.0.0 text array), or the map a REST batch message becomes. Every
 *   subscriber gets the text frame `broadcast` with this map as its payload. `enc` is always `json`.
 * - `user`: a user event and its payload, from a vsn 2.0.0 binary push (kind 3), a single REST
 *   message, or the database (`realtime.send`). vsn 2.0.0 subscribers get a binary kind-4 frame;
 *   vsn 1.0.0 subscribers get the text frame with `{"event","payload","type":"broadcast","meta"?}`,
 *   or nothing when the payload is binary (a text frame cannot carry it).
 * - `presence`: a presence diff (`event: "presence_diff"`), published by the gateway whose presence
 *   store changed the channel's presence state; the payload is `{"joins":{…},"leaves":{…}}` with
 *   metas grouped by presence key, for the `presence_diff` frame. `enc` is always `json`.
 *
 * - `presence`: a presence diff, `{"joins":{…},"leaves":{…}}`, sent to the channel's presence readers
 *   as the text frame `presence_diff`. `enc` is always `json`.
 *
 * The payload text is JSON for `enc: "json"` and base64 for `enc: "binary"` (Redis messages reach
 * ioredis as strings). Only `encodeBroadcastMessage`/`decodeBroadcastMessage` build or parse this.
 */
import { BusMessageError } from './bus-message';

export const BROADCAST_MESSAGE_VERSION = 1;

export type BroadcastShape = 'map' | 'user' | 'presence';
export type BroadcastEncoding = 'json' | 'binary';

export interface BroadcastHeader {
  v: typeof BROADCAST_MESSAGE_VERSION;
  /** The publishing process (a gateway or the ingester), unique per process start. */
  src: string;
  shape: BroadcastShape;
  /** The user event (`shape: "user"`); for `map`, the map's `event` when it had a string one. */
  event: string;
  enc: BroadcastEncoding;
  /**
   * Frame metadata for `user` messages: `{"id": <uuid>}` for messages sent from the database (and
   * REST messages given an id). Replay uses `id` to suppress live copies of replayed messages.
   */
  meta?: Record<string, unknown>;
  /** When it was published (milliseconds since the epoch), for send-to-deliver latency. */
  ts?: number;
}

export interface BroadcastMessage {
  header: BroadcastHeader;
  /** JSON text (`enc: "json"`) or base64 (`enc: "binary"`), exactly as published. */
  payloadText: string;
}

/** Serialises one envelope. `payloadText` must be JSON text or base64, as `header.enc` says. */
export function encodeBroadcastMessage(header: BroadcastHeader, payloadText: string): string {
  const meta = header.meta !== undefined ? `,"meta":${JSON.stringify(header.meta)}` : '';
  const ts = header.ts !== undefined ? `,"ts":${header.ts}` : '';
  return `{"v":${header.v},"src":${JSON.stringify(header.src)},"shape":"${header.shape}","event":${JSON.stringify(header.event)},"enc":"${header.enc}"${meta}${ts}}\n${payloadText}`;
}

/** Parses one envelope; throws BusMessageError for anything this version cannot trust. */
export function decodeBroadcastMessage(text: string): BroadcastMessage {
  const newline = text.indexOf('\n');
  if (newline < 0) throw new BusMessageError('MalformedEnvelope', 'broadcast message has no header line');
  let header: unknown;
  try {
    header = JSON.parse(text.slice(0, newline));
  } catch {
    throw new BusMessageError('MalformedEnvelope', 'broadcast message header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new BusMessageError('MalformedEnvelope', 'broadcast message header is not an object');
  }
  const h = header as Record<string, unknown>;
  if (h.v !== BROADCAST_MESSAGE_VERSION) {
    throw new BusMessageError('UnknownVersion', `broadcast message version ${String(h.v)} is not supported`);
  }
  if (
    typeof h.src !== 'string' ||
    (h.shape !== 'map' && h.shape !== 'user' && h.shape !== 'presence') ||
    typeof h.event !== 'string' ||
    (h.enc !== 'json' && h.enc !== 'binary') ||
    ((h.shape === 'map' || h.shape === 'presence') && h.enc !== 'json') ||
    (h.meta !== undefined && (typeof h.meta !== 'object' || h.meta === null || Array.isArray(h.meta))) ||
    (h.ts !== undefined && typeof h.ts !== 'number')
  ) {
    throw new BusMessageError('MalformedEnvelope', 'broadcast message header lacks src, shape, event or enc');
  }
  return { header: h as unknown as BroadcastHeader, payloadText: text.slice(newline + 1) };
}
