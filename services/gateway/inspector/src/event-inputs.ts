/**
 * What supabase-js hands the inspector's callbacks, turned into event-list entries (a kind, an
 * event name, a one-line summary and the whole payload as detail). Pure: the payloads are plain
 * data, so that each wording is unit-tested in Node.
 */
import { clip, type EventInput } from './event-log';

type Json = Record<string, unknown>;

const json = (value: unknown): string => {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value); // not JSON-able (a cycle): its string form still says something
  }
};

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A `postgres_changes` payload: `{schema, table, eventType, new, old, errors, commit_timestamp}`. */
export function changeInput(payload: Json): EventInput {
  const type = String(payload['eventType'] ?? payload['type'] ?? '?');
  const row = type === 'DELETE' ? payload['old'] : payload['new'];
  const errors = payload['errors'];
  const hasErrors = Array.isArray(errors) ? errors.length > 0 : Boolean(errors);
  return {
    kind: 'postgres_changes',
    event: type,
    summary: clip(`${String(payload['schema'])}.${String(payload['table'])} ${json(row ?? {})}`),
    detail: payload,
    ...(hasErrors ? { isError: true } : {}),
  };
}

/** A broadcast as supabase-js hands it: `{type: 'broadcast', event, payload, meta?}`. */
export function broadcastInput(message: Json): EventInput {
  return {
    kind: 'broadcast',
    event: String(message['event'] ?? '?'),
    summary: clip(json(message['payload'] ?? null)),
    detail: message,
  };
}

/** A presence `join` or `leave`: `{key, newPresences | leftPresences, currentPresences}`. */
export function presenceInput(event: 'join' | 'leave', payload: Json): EventInput {
  const metas = payload[event === 'join' ? 'newPresences' : 'leftPresences'];
  const shown = Array.isArray(metas)
    ? metas.map((meta: unknown) => {
        if (!isObject(meta)) return meta;
        const { presence_ref: _ref, ...fields } = meta;
        return fields;
      })
    : [];
  return {
    kind: 'presence',
    event,
    summary: clip(`${String(payload['key'])} ${json(shown.length === 1 ? shown[0] : shown)}`),
    detail: payload,
  };
}

/** A `system` message: `{status: 'ok' | 'error', message, extension, channel}`. */
export function systemInput(payload: Json): EventInput {
  const status = String(payload['status'] ?? '');
  const extension = payload['extension'] ? `${String(payload['extension'])}: ` : '';
  return {
    kind: 'system',
    event: status || 'system',
    summary: clip(`${extension}${String(payload['message'] ?? json(payload))}`),
    detail: payload,
    ...(status === 'error' ? { isError: true } : {}),
  };
}

/** What each join status means, in plain words. */
export const STATUS_TEXT: Readonly<Record<string, string>> = {
  SUBSCRIBED: 'joined: events will appear below',
  CHANNEL_ERROR: 'the join was refused or the channel failed',
  TIMED_OUT: 'no answer to the join in time',
  CLOSED: 'the channel is closed',
};

/** A status from `channel.subscribe((status, err) => …)`. */
export function statusInput(status: string, err?: { message?: unknown } | null): EventInput {
  const reason = err && typeof err.message === 'string' && err.message !== '' ? err.message : null;
  return {
    kind: 'channel',
    event: status,
    summary: reason ?? STATUS_TEXT[status] ?? status,
    detail: reason ? { status, reason } : { status },
    ...(status === 'CHANNEL_ERROR' || status === 'TIMED_OUT' ? { isError: true } : {}),
  };
}

/**
 * What realtime-js logs about its websocket (its `logger` option), or null for the chatter (every
 * push and receive). `close` comes with the browser's CloseEvent.
 */
export function socketInput(kind: string, message: string, data: unknown): EventInput | null {
  if (kind !== 'transport') return null;
  if (message.startsWith('connected to ')) {
    // The URL carries the token as `apikey`: not shown, so that screenshots do not leak it.
    const url = message.slice('connected to '.length).replace(/([?&]apikey=)[^&]*/i, '$1…');
    return { kind: 'socket', event: 'open', summary: `connected to ${url}`, detail: { url } };
  }
  if (message === 'close') {
    // A CloseEvent: its fields are getters, read one by one.
    const event = typeof data === 'object' && data !== null ? (data as Json) : {};
    const code = event['code'];
    const reason = event['reason'];
    const why = typeof reason === 'string' && reason !== '' ? `: ${reason}` : '';
    const summary =
      code === 1006
        ? 'connection failed or cut (1006); a refused token at connect is answered HTTP 403, which browsers report this way'
        : `closed with code ${String(code)}${why}`;
    return {
      kind: 'socket',
      event: 'close',
      summary,
      detail: { code, reason },
      ...(code === 1000 ? {} : { isError: true }),
    };
  }
  if (message === 'error') {
    return { kind: 'socket', event: 'error', summary: 'websocket error', detail: {}, isError: true };
  }
  return null;
}
