/**
 * The vsn 2.0.0 binary frames of user broadcasts (every other frame is text):
 *
 * - kind 3, user_broadcast_push, client → server:
 *   `3, len(join_ref), len(ref), len(topic), len(event), len(meta), enc, join_ref, ref, topic, event, meta, payload…`
 * - kind 4, user_broadcast, server → client:
 *   `4, len(topic), len(event), len(meta), enc, topic, event, meta, payload…`
 *
 * Lengths are single bytes counting UTF-8 bytes (so each field is at most 255 bytes); `enc` is 1 for
 * a JSON payload (its UTF-8 text) and 0 for raw bytes; `meta` is empty or a JSON object.
 */
import { MAX_REF_LENGTH } from './codec';
import { ProtocolError } from './message';

export const BinaryKinds = { userBroadcastPush: 3, userBroadcast: 4 } as const;
export const BINARY_ENCODING = 0;
export const JSON_ENCODING = 1;
/** Longest field a length byte can describe. */
export const MAX_BINARY_FIELD_BYTES = 255;

export interface UserBroadcastPush {
  joinRef: string | null;
  ref: string | null;
  topic: string;
  /** The user event. */
  event: string;
  /** The metadata object, or null when absent (realtime-js sends none unless configured to). */
  meta: Record<string, unknown> | null;
  /** Whether `payload` holds JSON text (UTF-8) or raw bytes. */
  json: boolean;
  /** The payload bytes, a view into the frame. */
  payload: Uint8Array;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function text(bytes: Uint8Array, field: string, ref: string | null, topic: string | null): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new ProtocolError(`${field} of a binary frame is not valid UTF-8`, ref, topic);
  }
}

/**
 * Decodes a binary frame from a client. Only kind 3 is accepted; anything else, or a frame whose
 * lengths do not add up, throws ProtocolError (with the ref and topic once they could be read).
 */
export function decodeUserBroadcastPush(frame: Uint8Array): UserBroadcastPush {
  if (frame.length < 1) throw new ProtocolError('empty binary frame');
  const kind = frame[0];
  if (kind !== BinaryKinds.userBroadcastPush) {
    throw new ProtocolError(
      `binary frames of kind ${kind} are not accepted (only kind 3, a user broadcast push)`,
    );
  }
  if (frame.length < 7) throw new ProtocolError('binary frame is shorter than its header');
  const [joinRefLen, refLen, topicLen, eventLen, metaLen, enc] = [
    frame[1]!,
    frame[2]!,
    frame[3]!,
    frame[4]!,
    frame[5]!,
    frame[6]!,
  ];
  const headerEnd = 7 + joinRefLen + refLen + topicLen + eventLen + metaLen;
  if (headerEnd > frame.length) throw new ProtocolError('binary frame is shorter than its lengths say');
  let at = 7;
  const take = (len: number): Uint8Array => frame.subarray(at, (at += len));
  const joinRefText = text(take(joinRefLen), 'join_ref', null, null);
  const refText = text(take(refLen), 'ref', null, null);
  if (joinRefText.length > MAX_REF_LENGTH || refText.length > MAX_REF_LENGTH) {
    throw new ProtocolError(`ref is longer than ${MAX_REF_LENGTH} characters`);
  }
  const ref = refText === '' ? null : refText;
  const joinRef = joinRefText === '' ? null : joinRefText;
  const topic = text(take(topicLen), 'topic', ref, null);
  if (topic === '') throw new ProtocolError('topic must be a non-empty string', ref);
  const event = text(take(eventLen), 'event', ref, topic);
  const metaText = text(take(metaLen), 'metadata', ref, topic);
  if (enc !== JSON_ENCODING && enc !== BINARY_ENCODING) {
    throw new ProtocolError(`binary frame encoding ${enc} is neither 0 (binary) nor 1 (JSON)`, ref, topic);
  }
  let meta: Record<string, unknown> | null = null;
  if (metaText !== '') {
    let parsed: unknown;
    try {
      // At most 255 bytes: too short to nest dangerously deep.
      parsed = JSON.parse(metaText);
    } catch {
      throw new ProtocolError('metadata of a binary frame is not JSON', ref, topic);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ProtocolError('metadata of a binary frame must be a JSON object', ref, topic);
    }
    meta = parsed as Record<string, unknown>;
  }
  return {
    joinRef,
    ref,
    topic,
    event,
    meta,
    json: enc === JSON_ENCODING,
    payload: frame.subarray(headerEnd),
  };
}

/**
 * The bytes of a kind-4 frame, or null when the topic, event or metadata is longer than a length
 * byte can say (the caller then falls back to a text frame, or drops a binary payload).
 */
export function encodeUserBroadcast(
  topic: string,
  event: string,
  metaJson: string,
  json: boolean,
  payload: Uint8Array,
): Buffer | null {
  const topicBytes = Buffer.from(topic, 'utf8');
  const eventBytes = Buffer.from(event, 'utf8');
  const metaBytes = Buffer.from(metaJson, 'utf8');
  if (
    topicBytes.length > MAX_BINARY_FIELD_BYTES ||
    eventBytes.length > MAX_BINARY_FIELD_BYTES ||
    metaBytes.length > MAX_BINARY_FIELD_BYTES
  )
    return null;
  const head = 5 + topicBytes.length + eventBytes.length + metaBytes.length;
  const frame = Buffer.allocUnsafe(head + payload.length);
  frame[0] = BinaryKinds.userBroadcast;
  frame[1] = topicBytes.length;
  frame[2] = eventBytes.length;
  frame[3] = metaBytes.length;
  frame[4] = json ? JSON_ENCODING : BINARY_ENCODING;
  let at = 5;
  at += topicBytes.copy(frame, at);
  at += eventBytes.copy(frame, at);
  at += metaBytes.copy(frame, at);
  frame.set(payload, at);
  return frame;
}

/** The bytes of a kind-3 frame (what realtime-js sends; for tests, the fuzzer and benchmarks). */
export function encodeUserBroadcastPush(
  push: Omit<UserBroadcastPush, 'payload'> & { payload: Uint8Array },
): Buffer {
  const fields = [
    push.joinRef ?? '',
    push.ref ?? '',
    push.topic,
    push.event,
    push.meta ? JSON.stringify(push.meta) : '',
  ].map((f) => Buffer.from(f, 'utf8'));
  for (const f of fields) {
    if (f.length > MAX_BINARY_FIELD_BYTES)
      throw new RangeError('a binary frame field is longer than 255 bytes');
  }
  const head = Buffer.from([
    BinaryKinds.userBroadcastPush,
    ...fields.map((f) => f.length),
    push.json ? JSON_ENCODING : BINARY_ENCODING,
  ]);
  return Buffer.concat([head, ...fields, push.payload]);
}
