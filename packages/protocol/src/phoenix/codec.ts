/**
 * The two Phoenix serialisers, selected by the socket's `vsn` query parameter.
 *
 * V1 (`1.0.0`): `{"topic","event","payload","ref"}` objects; inbound `join_ref` is optional and
 * outbound frames never carry it (Phoenix's V1JSONSerializer).
 * V2 (`2.0.0`): `[join_ref, ref, topic, event, payload]` arrays; arrays longer than five are
 * accepted and the extras ignored, as the Supabase server does.
 */
import { nestsDeeperThan } from './json-depth';
import { ProtocolError, type PhoenixMessage } from './message';

/** A frame refused for nesting deeper than allowed (a ProtocolError the gateway counts apart). */
export class FrameTooDeepError extends ProtocolError {
  constructor(readonly maxDepth: number) {
    super(`frame nests arrays and objects deeper than ${maxDepth} levels`);
    this.name = 'FrameTooDeepError';
  }
}

export type ProtocolVersion = '1.0.0' | '2.0.0';

/** Deepest nesting of arrays and objects a frame may have unless the caller says otherwise. */
export const DEFAULT_MAX_FRAME_DEPTH = 64;

/** Longest `ref` / `join_ref` accepted (Phoenix clients send small counters). */
export const MAX_REF_LENGTH = 64;

export interface PhoenixCodec {
  readonly vsn: ProtocolVersion;
  /**
   * Decodes one text frame; throws {@link ProtocolError} on malformed input, including a frame
   * that nests deeper than `maxDepth` (checked before parsing, see json-depth.ts).
   */
  decode(text: string, maxDepth?: number): PhoenixMessage;
  encode(msg: PhoenixMessage): string;
  /** Fan-out fast path: splice an already-serialised payload instead of re-stringifying it. */
  encodeWithRawPayload(msg: Omit<PhoenixMessage, 'payload'>, payloadJson: string): string;
}

function readRef(value: unknown, field: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') {
    if (value.length > MAX_REF_LENGTH)
      throw new ProtocolError(`${field} is longer than ${MAX_REF_LENGTH} characters`);
    return value;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  throw new ProtocolError(`${field} must be a string or null`);
}

function parseJson(text: string, maxDepth: number): unknown {
  if (nestsDeeperThan(text, maxDepth)) throw new FrameTooDeepError(maxDepth);
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
  } catch (err) {
    // An unreadable ref cannot be answered; report the frame without one.
    throw new ProtocolError((err as Error).message, null, typeof topic === 'string' ? topic : null);
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
  decode(text, maxDepth = DEFAULT_MAX_FRAME_DEPTH) {
    const value = parseJson(text, maxDepth);
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
  decode(text, maxDepth = DEFAULT_MAX_FRAME_DEPTH) {
    const value = parseJson(text, maxDepth);
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
