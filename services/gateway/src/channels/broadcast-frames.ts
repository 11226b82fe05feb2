/**
 * The frames one broadcast becomes, per protocol version, as Supabase Realtime sends them:
 *
 * | message                  | vsn 1.0.0 subscriber                         | vsn 2.0.0 subscriber            |
 * |--------------------------|----------------------------------------------|---------------------------------|
 * | `map` (a JSON push)      | text `broadcast`, payload: the client's map  | text array, the same map        |
 * | `user`, JSON payload     | text `broadcast`, `{event,payload,type,meta?}` | binary kind 4 (enc 1)         |
 * | `user`, binary payload   | nothing (a text frame cannot carry it)       | binary kind 4 (enc 0)           |
 *
 * A presence diff (shape `presence`) is the text frame `presence_diff` for both versions.
 *
 * A kind-4 frame needs topic, event and metadata of at most 255 bytes each; past that a JSON
 * payload goes as the text frame instead and a binary one is not sent.
 */
import {
  PhoenixEvents,
  encodeUserBroadcast,
  v1Codec,
  v2Codec,
  type BroadcastMessage,
  type PhoenixCodec,
  type ProtocolVersion,
} from '@walcast/protocol';

/** One frame: text, or the bytes of a binary frame. */
export type Frame = { text: string; binary?: undefined } | { binary: Uint8Array; text?: undefined };

/** The text frame `broadcast` with `mapJson` as its payload, for the channel `topic`. */
function textFrame(codec: PhoenixCodec, topic: string, mapJson: string): Frame {
  return {
    text: codec.encodeWithRawPayload(
      { joinRef: null, ref: null, topic, event: PhoenixEvents.broadcast },
      mapJson,
    ),
  };
}

/** The map a `user` message with a JSON payload becomes in a text frame. */
export function userMapJson(message: BroadcastMessage): string {
  const { header, payloadText } = message;
  const meta = header.meta !== undefined ? `,"meta":${JSON.stringify(header.meta)}` : '';
  return `{"event":${JSON.stringify(header.event)},"payload":${payloadText},"type":"broadcast"${meta}}`;
}

/**
 * The frame for subscribers of `vsn` on channel `topic`, or null when they get none (a binary
 * payload for vsn 1.0.0, or one whose fields do not fit a kind-4 frame).
 */
export function broadcastFrame(message: BroadcastMessage, topic: string, vsn: ProtocolVersion): Frame | null {
  const { header, payloadText } = message;
  const codec = vsn === '1.0.0' ? v1Codec : v2Codec;
  if (header.shape === 'map') return textFrame(codec, topic, payloadText);
  if (header.shape === 'presence') {
    const event = PhoenixEvents.presenceDiff;
    return { text: codec.encodeWithRawPayload({ joinRef: null, ref: null, topic, event }, payloadText) };
  }
  const json = header.enc === 'json';
  if (vsn === '2.0.0') {
    const payload = json ? Buffer.from(payloadText, 'utf8') : Buffer.from(payloadText, 'base64');
    const metaJson = header.meta !== undefined ? JSON.stringify(header.meta) : '';
    const binary = encodeUserBroadcast(topic, header.event, metaJson, json, payload);
    if (binary) return { binary };
  }
  return json ? textFrame(codec, topic, userMapJson(message)) : null;
}
