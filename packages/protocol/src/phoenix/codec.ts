/**
 * The two Phoenix serialisers, selected by the socket's `vsn` query parameter.
 *
 * V1 (`1.0.0`): `{"topic","event","payload","ref"}` objects; inbound `join_ref` is optional and
 * outbound frames never carry it (Phoenix's V1JSONSerializer).
 * V2 (`2.0.0`): `[join_ref, ref, topic, event, payload]` arrays; arrays longer than five are
 * accepted and the extras ignored, as the Supabase server does.
 */
import { ProtocolError, type PhoenixMessage } from './message';

export type ProtocolVersion = '1.0.0' | '2.0.0';

export interface PhoenixCodec {
  readonly vsn: ProtocolVersion;
  /** Decodes one text frame; throws {@link ProtocolError} on malformed input. */
  decode(text: string): PhoenixMessage;
  encode(msg: PhoenixMessage): string;
  /** Fan-out fast path: splice an already-serialised payload instead of re-stringifying it. */
  encodeWithRawPayload(msg: Omit<PhoenixMessage, 'payload'>, payloadJson: string): string;
}

function readRef(value: unknown, field: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new ProtocolError(`${field} must be a string or null`);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new ProtocolError('frame is not valid JSON');
  }
}

function validate(
  joinRefRaw: unknown,
  refRaw: unknown,
  topic: unknown,
  event: unknown,
  payload: unknown,
): PhoenixMessage {
  let ref: string | null = null;
  try {
    ref = readRef(refRaw, 'ref');
  } catch {
    // An unreadable ref cannot be answered; report the frame without one.
    throw new ProtocolError('ref must be a string or null', null, typeof topic === 'string' ? topic : null);
  }
  const where = typeof topic === 'string' ? topic : null;
  if (typeof topic !== 'string' || topic.length === 0)
    throw new ProtocolError('topic must be a non-empty string', ref);
  if (typeof event !== 'string' || event.length === 0)
    throw new ProtocolError('event must be a non-empty string', ref, where);
  if (payload === undefined) throw new ProtocolError('payload is required', ref, where);
  let joinRef: string | null;
  try {
    joinRef = readRef(joinRefRaw, 'join_ref');
  } catch (err) {
    throw new ProtocolError((err as Error).message, ref, where);
  }
  return { joinRef, ref, topic, event, payload };
}

const jsonRef = (ref: string | null): string => (ref === null ? 'null' : JSON.stringify(ref));

export const v1Codec: PhoenixCodec = {
  vsn: '1.0.0',
  decode(text) {
    const value = parseJson(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ProtocolError('a vsn=1.0.0 frame must be a JSON object');
    }
    const m = value as Record<string, unknown>;
    return validate(m.join_ref, m.ref, m.topic, m.event, m.payload);
  },
  encode(msg) {
    return this.encodeWithRawPayload(msg, JSON.stringify(msg.payload ?? {}));
  },
  encodeWithRawPayload(msg, payloadJson) {
    return `{"topic":${JSON.stringify(msg.topic)},"event":${JSON.stringify(msg.event)},"payload":${payloadJson},"ref":${jsonRef(msg.ref)}}`;
  },
};

export const v2Codec: PhoenixCodec = {
  vsn: '2.0.0',
  decode(text) {
    const value = parseJson(text);
    if (!Array.isArray(value) || value.length < 5) {
      throw new ProtocolError(
        'a vsn=2.0.0 frame must be a JSON array [join_ref, ref, topic, event, payload]',
      );
    }
    return validate(value[0], value[1], value[2], value[3], value[4]);
  },
  encode(msg) {
    return this.encodeWithRawPayload(msg, JSON.stringify(msg.payload ?? {}));
  },
  encodeWithRawPayload(msg, payloadJson) {
    return `[${jsonRef(msg.joinRef)},${jsonRef(msg.ref)},${JSON.stringify(msg.topic)},${JSON.stringify(msg.event)},${payloadJson}]`;
  },
};

/** The codec for a `vsn` query value; a missing value means 1.0.0 (Phoenix). `null` if unsupported. */
export function codecFor(vsn: string | null | undefined): PhoenixCodec | null {
  if (vsn === undefined || vsn === null || vsn === '' || vsn === '1.0.0') return v1Codec;
  if (vsn === '2.0.0') return v2Codec;
  return null;
}
