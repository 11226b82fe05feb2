/**
 * Turns the fuzzer's shapes (shapes.ts) into the bytes a socket sends: Phoenix frames in the
 * socket's serializer (V1 objects, V2 arrays), raw text and binary frames. Deep values are built
 * as strings, never as objects, so the fuzzer itself has no recursion limit to hit.
 */
import type { Action, Blob, BindingSpec, BindingsSpec, Repeat, TopicSpec, Vsn } from './shapes';
import { mintToken, type TokenSpec } from './tokens';

/** Refs of one socket: a counter, and the join ref of every topic it joined. */
export class RefState {
  private last = 0;
  readonly joinRefs = new Map<string, string>();

  next(): string {
    this.last += 1;
    return String(this.last);
  }
}

export function repeat(r: Repeat): string {
  return r.head + r.unit.repeat(r.times) + r.tail;
}

export function topicText(topic: TopicSpec): string {
  return topic.kind === 'text' ? topic.text : repeat(topic.text);
}

/** A blob as JSON text. */
export function blobJson(blob: Blob): string {
  switch (blob.kind) {
    case 'json':
      return JSON.stringify(blob.value) ?? 'null';
    case 'deep-array':
      return '['.repeat(blob.depth) + ']'.repeat(blob.depth);
    case 'deep-object':
      return '{"a":'.repeat(blob.depth) + '0' + '}'.repeat(blob.depth);
    case 'wide-array':
      return `[${'0,'.repeat(Math.max(0, blob.length - 1))}${blob.length > 0 ? '0' : ''}]`;
    case 'string':
      return JSON.stringify(repeat(blob.text));
  }
}

/** A JSON object's text from `[key, jsonText]` pairs (keys in order; text values are spliced in). */
function object(entries: Array<[string, string]>): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

/**
 * `copy` numbers the copies of a template (its big values go in the first only); `filterId`
 * replaces the filter.
 */
function bindingJson(b: BindingSpec, copy: number, filterId: number | null): string {
  const entries: Array<[string, string]> = [];
  for (const key of ['event', 'schema', 'table'] as const) {
    if (b[key] !== undefined) entries.push([key, JSON.stringify(b[key]) ?? 'null']);
  }
  if (filterId !== null) entries.push(['filter', JSON.stringify(`id=eq.${filterId}`)]);
  else if (b.repeatFilter !== undefined) {
    const f = b.repeatFilter;
    entries.push(['filter', JSON.stringify(`${f.column}=${f.op}.${repeat(f.value)}`)]);
  } else if (b.filter !== undefined) entries.push(['filter', JSON.stringify(b.filter) ?? 'null']);
  if (b.select !== undefined) entries.push(['select', JSON.stringify(b.select) ?? 'null']);
  if (b.since !== undefined) entries.push(['since', JSON.stringify(b.since) ?? 'null']);
  if (copy === 0) {
    if (b.extra !== undefined) entries.push(['x', blobJson(b.extra)]);
    const deep = b.deep;
    if (deep !== undefined) {
      const at = entries.findIndex(([k]) => k === deep.field);
      if (at >= 0) entries.splice(at, 1);
      entries.push([deep.field, blobJson(deep.blob)]);
    }
  }
  return object(entries);
}

function bindingsJson(spec: BindingsSpec): string {
  const parts: string[] = [];
  for (let i = 0; i < spec.copies; i++)
    parts.push(bindingJson(spec.template, i, spec.distinctFilters ? i : null));
  for (const b of spec.list) parts.push(bindingJson(b, 0, null));
  return `[${parts.join(',')}]`;
}

function tokenEntry(token: TokenSpec | null): Array<[string, string]> {
  return token === null ? [] : [['access_token', JSON.stringify(mintToken(token))]];
}

/** One Phoenix frame; `payload` is JSON text. */
function frame(
  vsn: Vsn,
  joinRef: string | null,
  ref: string | null,
  topic: string,
  event: string,
  payload: string,
): string {
  const t = JSON.stringify(topic);
  const e = JSON.stringify(event);
  const jr = JSON.stringify(joinRef);
  const r = JSON.stringify(ref);
  if (vsn === '2.0.0') return `[${jr},${r},${t},${e},${payload}]`;
  return `{"topic":${t},"event":${e},"payload":${payload},"ref":${r},"join_ref":${jr}}`;
}

function join(vsn: Vsn, refs: RefState, topic: string, payload: string): string {
  const ref = refs.next();
  refs.joinRefs.set(topic, ref);
  return frame(vsn, ref, ref, topic, 'phx_join', payload);
}

function modernPayload(action: Extract<Action, { kind: 'join-modern' }>): string {
  const parts: Array<[string, string]> = [
    ['broadcast', '{"ack":false,"self":false}'],
    ['presence', '{"key":"","enabled":false}'],
    ['postgres_changes', bindingsJson(action.bindings)],
    ['private', 'false'],
  ];
  const extra = action.configExtra;
  let config: string;
  if (extra === null) config = object(parts);
  else if (extra.at === 'config') config = blobJson(extra.blob);
  else config = object(parts.map(([k, v]) => [k, k === extra.at ? blobJson(extra.blob) : v]));
  return object([['config', config], ...tokenEntry(action.token)]);
}

/** The websocket messages `action` sends on a socket of `vsn`. */
export function render(action: Action, vsn: Vsn, refs: RefState): Array<string | Buffer> {
  switch (action.kind) {
    case 'join-legacy': {
      const entries = tokenEntry(action.token);
      if (action.extra !== null) entries.push(['extra', blobJson(action.extra)]);
      if (action.since !== undefined) entries.push(['since', JSON.stringify(action.since) ?? 'null']);
      return [join(vsn, refs, topicText(action.topic), object(entries))];
    }
    case 'join-modern':
      return [join(vsn, refs, topicText(action.topic), modernPayload(action))];
    case 'access-token': {
      const topic = topicText(action.topic);
      const payload = object(tokenEntry(action.token));
      return [frame(vsn, refs.joinRefs.get(topic) ?? null, refs.next(), topic, 'access_token', payload)];
    }
    case 'leave': {
      const topic = topicText(action.topic);
      return [frame(vsn, refs.joinRefs.get(topic) ?? null, refs.next(), topic, 'phx_leave', '{}')];
    }
    case 'heartbeat':
      return [frame(vsn, null, refs.next(), 'phoenix', 'heartbeat', '{}')];
    case 'many-joins': {
      const out: string[] = [];
      for (let i = 0; i < action.count; i++) {
        const [schema, table, filter] =
          action.distinct === 'filter'
            ? ['public', 'items', `id=eq.${i}`]
            : action.distinct === 'table'
              ? ['public', `t${i}`, null]
              : [`s${i}`, 'items', null];
        if (action.modern) {
          const binding = { event: '*', schema, table, ...(filter === null ? {} : { filter }) };
          const payload = JSON.stringify({ config: { postgres_changes: [binding] } });
          out.push(join(vsn, refs, `realtime:fuzz-${i}`, payload));
        } else {
          out.push(
            join(vsn, refs, `realtime:${schema}:${table}${filter === null ? '' : `:${filter}`}`, '{}'),
          );
        }
      }
      return out;
    }
    case 'event': {
      const topic = topicText(action.topic);
      return [
        frame(
          vsn,
          refs.joinRefs.get(topic) ?? null,
          refs.next(),
          topic,
          action.event,
          blobJson(action.payload),
        ),
      ];
    }
    case 'odd-frame':
      return [JSON.stringify(action.value) ?? 'null'];
    case 'raw-text':
      return [action.text];
    case 'broken-json': {
      const whole = render(action.of, vsn, refs)[0];
      const text = typeof whole === 'string' ? whole : '';
      return [text.slice(0, Math.min(action.cut, Math.max(0, text.length - 1)))];
    }
    case 'big-text':
      return [blobJson(action.blob)];
    case 'binary':
      return [Buffer.from(action.bytes)];
    case 'kind3': {
      const topic = topicText(action.topic);
      const fields = [refs.joinRefs.get(topic) ?? '', refs.next(), topic, action.event, action.meta].map(
        (f) => Buffer.from(f, 'utf8').subarray(0, 255),
      );
      const head = Buffer.from([3, ...fields.map((f) => f.length), action.enc & 255]);
      if (action.lie) head[action.lie[0]] = action.lie[1];
      return [Buffer.concat([head, ...fields, Buffer.from(action.payload)])];
    }
  }
}

/** A heartbeat with a given ref, for waiting until the gateway has handled everything before it. */
export function heartbeatFrame(vsn: Vsn, ref: string): string {
  return frame(vsn, null, ref, 'phoenix', 'heartbeat', '{}');
}
