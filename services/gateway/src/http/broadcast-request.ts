/**
 * The REST broadcast bodies, checked and turned into messages, as Supabase Realtime's
 * `BatchBroadcast` and `SingleBroadcast` changesets do (docs/rest-broadcast.md). Pure: no I/O.
 *
 * Refusals carry the reference's bodies: Ecto changeset errors as `{"errors":{field:[message]}}`,
 * with one object per message of a batch (`{}` for a valid one). Beyond the reference: a batch holds
 * at most {@link MAX_BATCH_MESSAGES} messages, JSON that does not parse or nests deeper than the
 * gateway's MAX_FRAME_DEPTH is refused with 400 (before anything walks it), and a single JSON payload
 * must be an object.
 */
import { nestsDeeperThan, isJsonObject } from '@walcast/protocol';
import type { OutgoingBroadcast } from '../channels/broadcast-registry';

/** Most messages one batch may carry (any more is refused with 422, before the rate limit counts). */
export const MAX_BATCH_MESSAGES = 1000;

export const PAYLOAD_TOO_LARGE = 'Payload size exceeds tenant limit';
const BLANK = "can't be blank";
const INVALID = 'is invalid';
/** Ecto's `validate_length` wording. */
const TOO_MANY = `should have at most ${MAX_BATCH_MESSAGES} item(s)`;
/** The `id` of a batch message is cast as Ecto's `binary_id`: a UUID. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface BroadcastLimits {
  /** MAX_BROADCAST_BYTES: the largest payload (its JSON text, or its bytes). */
  maxPayloadBytes: number;
  /** MAX_FRAME_DEPTH: the deepest nesting of a payload. */
  maxDepth: number;
}

/** A refusal: the HTTP status and the JSON body to answer with. */
export interface Refusal {
  status: 400 | 422;
  body: string;
}

type FieldErrors = Record<string, string[]>;

const changesetError = (errors: unknown): Refusal => ({ status: 422, body: JSON.stringify({ errors }) });

/** The parsed JSON of `text`, or a 400 refusal when it does not parse or nests deeper than `maxDepth`. */
function parseJson(text: string, maxDepth: number): { value: unknown } | Refusal {
  if (nestsDeeperThan(text, maxDepth)) {
    return { status: 400, body: JSON.stringify({ message: `JSON nests deeper than ${maxDepth} levels` }) };
  }
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return { status: 400, body: JSON.stringify({ message: 'Invalid JSON body' }) };
  }
}

/** Ecto's cast of a `:string` field that is required: missing, null and "" are blank. */
function requiredString(value: unknown, field: string, errors: FieldErrors): string {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) {
    errors[field] = [BLANK];
  } else if (typeof value !== 'string') {
    errors[field] = [INVALID];
  } else {
    return value;
  }
  return '';
}

/** Ecto's `:boolean` cast (true/false, "true"/"false"); missing or null means false. */
function booleanField(value: unknown, errors: FieldErrors): boolean {
  if (value === undefined || value === null || value === false || value === 'false') return false;
  if (value === true || value === 'true') return true;
  errors['private'] = [INVALID];
  return false;
}

/** One batch message, checked: the message to send, or its field errors. */
function batchMessage(raw: unknown, limits: BroadcastLimits): OutgoingBroadcast | FieldErrors {
  if (!isJsonObject(raw)) return { messages: [INVALID] };
  const errors: FieldErrors = {};
  const topic = requiredString(raw['topic'], 'topic', errors);
  const event = requiredString(raw['event'], 'event', errors);
  const isPrivate = booleanField(raw['private'], errors);
  const { id, payload } = raw;
  if (id !== undefined && id !== null && (typeof id !== 'string' || !UUID.test(id))) errors['id'] = [INVALID];
  let payloadText = '';
  if (payload === undefined || payload === null) errors['payload'] = [BLANK];
  else if (!isJsonObject(payload)) errors['payload'] = [INVALID];
  else {
    payloadText = JSON.stringify(payload);
    if (Buffer.byteLength(payloadText) > limits.maxPayloadBytes) errors['payload'] = [PAYLOAD_TOO_LARGE];
  }
  if (Object.keys(errors).length > 0) return errors;
  const meta = typeof id === 'string' ? `,"meta":${JSON.stringify({ id })}` : '';
  return {
    subtopic: topic,
    isPrivate,
    header: { shape: 'map', event, enc: 'json' },
    payloadText: `{"payload":${payloadText},"event":${JSON.stringify(event)},"type":"broadcast"${meta}}`,
  };
}

/**
 * `POST /api/broadcast`: `{"messages":[{topic, event, payload, private?, id?}]}`. Every message is
 * checked; one invalid message refuses the whole batch (nothing is sent).
 */
export function parseBatch(
  text: string,
  limits: BroadcastLimits,
): { messages: OutgoingBroadcast[] } | Refusal {
  // The payload sits three levels down: the body, `messages`, the message.
  const parsed = parseJson(text, limits.maxDepth + 3);
  if (!('value' in parsed)) return parsed;
  const list = isJsonObject(parsed.value) ? parsed.value['messages'] : undefined;
  if (list === undefined || list === null || (Array.isArray(list) && list.length === 0))
    return changesetError({ messages: [BLANK] });
  if (!Array.isArray(list)) return changesetError({ messages: [INVALID] });
  if (list.length > MAX_BATCH_MESSAGES) return changesetError({ messages: [TOO_MANY] });
  const results = list.map((raw) => batchMessage(raw, limits));
  const isValid = (r: OutgoingBroadcast | FieldErrors): r is OutgoingBroadcast => 'payloadText' in r;
  if (results.every(isValid)) return { messages: results };
  // As Ecto renders an embeds_many: one entry per message, {} for the valid ones.
  return changesetError({ messages: results.map((r) => (isValid(r) ? {} : r)) });
}

/** What a single broadcast's body is, from its Content-Type; null: refused with 415. */
export function singleBodyKind(contentType: string): 'json' | 'binary' | null {
  const media = contentType.split(';')[0]!.trim().toLowerCase();
  if (media === '' || media === 'application/json') return 'json';
  if (media === 'application/octet-stream') return 'binary';
  return null;
}

/** The 415 body of the reference's ValidateBroadcastContentType plug. */
export const UNSUPPORTED_MEDIA_TYPE = JSON.stringify({
  error: 'Unsupported Media Type. Use application/json or application/octet-stream',
});

/**
 * `POST /api/broadcast/:topic/events/:event`: a JSON object (an empty body counts as `{}`, as the
 * reference's parser makes it) or raw bytes, delivered as a user broadcast (kind 4 at vsn 2.0.0).
 */
export function parseSingle(
  request: { subtopic: string; event: string; isPrivate: boolean; kind: 'json' | 'binary'; body: Buffer },
  limits: BroadcastLimits,
): OutgoingBroadcast | Refusal {
  const { subtopic, event, isPrivate, kind, body } = request;
  const errors: FieldErrors = {};
  if (subtopic === '') errors['topic'] = [BLANK];
  if (event === '') errors['event'] = [BLANK];
  let payloadText: string;
  if (kind === 'binary') {
    if (body.length > limits.maxPayloadBytes) errors['payload'] = [PAYLOAD_TOO_LARGE];
    payloadText = body.toString('base64');
  } else {
    const text = body.length === 0 ? '{}' : body.toString('utf8');
    const parsed = parseJson(text, limits.maxDepth);
    if (!('value' in parsed)) return parsed;
    if (!isJsonObject(parsed.value)) errors['payload'] = [INVALID];
    payloadText = JSON.stringify(parsed.value);
    if (Buffer.byteLength(payloadText) > limits.maxPayloadBytes) errors['payload'] = [PAYLOAD_TOO_LARGE];
  }
  if (Object.keys(errors).length > 0) return changesetError(errors);
  return { subtopic, isPrivate, header: { shape: 'user', event, enc: kind }, payloadText };
}
