/** Phoenix serializer versions: `1.0.0` sends JSON objects, `2.0.0` JSON arrays. */
export type PhoenixVsn = '1.0.0' | '2.0.0';

/**
 * A frame payload. It is arbitrary JSON from the server under test, so it is deliberately untyped:
 * tests assert on it with `toMatchObject`/`toEqual` or narrow it themselves.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- arbitrary JSON, asserted by tests
export type FramePayload = any;

/** A message to send; `ref` and `joinRef` are filled in by the client when absent. */
export interface PhoenixMessage {
  topic: string;
  event: string;
  payload: FramePayload;
  ref?: string | null;
  joinRef?: string | null;
}

/**
 * A received frame. Text frames are decoded whatever `vsn` was negotiated: an array is read as
 * V2 `[join_ref, ref, topic, event, payload]`, an object as V1 (a missing `join_ref` becomes null).
 * Numeric refs become strings. Binary frames and undecodable text keep `topic`/`event` empty,
 * `payload` null, and the original bytes in `raw`.
 */
export interface PhoenixFrame {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: FramePayload;
  raw: string | Buffer;
  binary: boolean;
  /** Set when a text frame was not valid Phoenix JSON. */
  isMalformed?: boolean;
}

/** Encodes a message as V1 `{topic,event,payload,ref,join_ref}` or V2 `[join_ref,ref,topic,event,payload]`. */
export function encodePhoenixFrame(msg: PhoenixMessage, vsn: PhoenixVsn): string {
  const ref = msg.ref ?? null;
  const joinRef = msg.joinRef ?? null;
  if (vsn === '2.0.0') return JSON.stringify([joinRef, ref, msg.topic, msg.event, msg.payload]);
  return JSON.stringify({ topic: msg.topic, event: msg.event, payload: msg.payload, ref, join_ref: joinRef });
}

/** Decodes one text frame; never throws (see {@link PhoenixFrame} for malformed input). */
export function decodePhoenixFrame(raw: string): PhoenixFrame {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return malformed(raw); // kept so that a test can assert the server sent garbage
  }
  if (Array.isArray(parsed) && parsed.length === 5) {
    const [joinRef, ref, topic, event, payload] = parsed as unknown[];
    if (typeof topic !== 'string' || typeof event !== 'string') return malformed(raw);
    return { joinRef: refOf(joinRef), ref: refOf(ref), topic, event, payload, raw, binary: false };
  }
  if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
    const obj = parsed as Record<string, unknown>;
    if (typeof obj['topic'] !== 'string' || typeof obj['event'] !== 'string') return malformed(raw);
    const { topic, event, payload, ref, join_ref: joinRef } = obj as Record<string, FramePayload>;
    return { joinRef: refOf(joinRef), ref: refOf(ref), topic, event, payload, raw, binary: false };
  }
  return malformed(raw);
}

/** Wraps a binary websocket message. */
export function binaryFrame(raw: Buffer): PhoenixFrame {
  return { joinRef: null, ref: null, topic: '', event: '', payload: null, raw, binary: true };
}

function refOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return null;
}

function malformed(raw: string): PhoenixFrame {
  return {
    joinRef: null,
    ref: null,
    topic: '',
    event: '',
    payload: null,
    raw,
    binary: false,
    isMalformed: true,
  };
}
