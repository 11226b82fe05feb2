/**
 * What the inspector's form asks for, checked and turned into what supabase-js takes: the channel
 * name, the token, the join `config` and the `postgres_changes` bindings. Pure (no DOM, no client),
 * so that it is unit-tested in Node.
 */

/** One `postgres_changes` row of the form, as typed. */
export interface BindingFields {
  schema: string;
  table: string;
  event: string;
  filter: string;
}

/** The form as typed. */
export interface ChannelFields {
  channel: string;
  token: string;
  isPrivate: boolean;
  bindings: readonly BindingFields[];
  broadcast: boolean;
  broadcastSelf: boolean;
  broadcastAck: boolean;
  presence: boolean;
  presenceKey: string;
}

export const CHANGE_EVENTS = ['*', 'INSERT', 'UPDATE', 'DELETE'] as const;
export type ChangeEvent = (typeof CHANGE_EVENTS)[number];

/** The filter of one `channel.on('postgres_changes', filter, …)`. */
export interface PostgresBinding {
  event: ChangeEvent;
  schema: string;
  table?: string;
  filter?: string;
}

/** The join config supabase-js sends (`supabase.channel(name, { config })`). */
export interface JoinConfig {
  private: boolean;
  broadcast: { self: boolean; ack: boolean };
  presence: { key: string; enabled: boolean };
}

export interface ChannelRequest {
  /** Without `realtime:`, which supabase-js adds. */
  name: string;
  /** `null`: none (channels are open); the client then sends a placeholder key. */
  token: string | null;
  config: JoinConfig;
  bindings: PostgresBinding[];
  /** Whether to listen to broadcasts (all events). */
  listensToBroadcast: boolean;
  /** Whether to listen to presence (sync, join, leave). */
  listensToPresence: boolean;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; problems: string[] };

const TOPIC_PREFIX = 'realtime:';

/** Checks the form; every problem is listed, each naming the field to fix. */
export function channelRequest(fields: ChannelFields): Checked<ChannelRequest> {
  const problems: string[] = [];
  let name = fields.channel.trim();
  if (name.toLowerCase().startsWith(TOPIC_PREFIX)) name = name.slice(TOPIC_PREFIX.length);
  if (name === '') problems.push('Channel: enter a name, e.g. room1 or public:users');
  const bindings: PostgresBinding[] = [];
  fields.bindings.forEach((row, index) => {
    const binding = postgresBinding(row, `Postgres changes ${index + 1}`, problems);
    if (binding) bindings.push(binding);
  });
  if (bindings.length === 0 && !fields.broadcast && !fields.presence && problems.length === 0) {
    problems.push('Listen to something: add a Postgres changes binding, or tick broadcast or presence');
  }
  if (problems.length > 0) return { ok: false, problems };
  const token = fields.token.trim();
  return {
    ok: true,
    value: {
      name,
      token: token === '' ? null : token,
      config: {
        private: fields.isPrivate,
        broadcast: { self: fields.broadcastSelf, ack: fields.broadcastAck },
        presence: { key: fields.presenceKey.trim(), enabled: fields.presence },
      },
      bindings,
      listensToBroadcast: fields.broadcast,
      listensToPresence: fields.presence,
    },
  };
}

function postgresBinding(row: BindingFields, label: string, problems: string[]): PostgresBinding | null {
  const schema = row.schema.trim();
  const table = row.table.trim();
  const filter = row.filter.trim();
  const event = row.event.trim().toUpperCase();
  const before = problems.length;
  if (schema === '') problems.push(`${label}: enter a schema (public, or * for every schema)`);
  if (!(CHANGE_EVENTS as readonly string[]).includes(event)) {
    problems.push(`${label}: the event must be one of ${CHANGE_EVENTS.join(', ')}`);
  }
  if (filter !== '' && table === '') problems.push(`${label}: a filter needs a table`);
  if (problems.length > before) return null;
  return {
    event: event as ChangeEvent,
    schema,
    ...(table === '' ? {} : { table }),
    ...(filter === '' ? {} : { filter }),
  };
}

/** Parses a JSON object typed by the user (a broadcast payload, a presence payload). */
export function jsonObject(text: string, label: string): Checked<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(text.trim() === '' ? '{}' : text);
  } catch (err) {
    return {
      ok: false,
      problems: [`${label}: not JSON (${err instanceof Error ? err.message : String(err)})`],
    };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, problems: [`${label}: must be a JSON object, like {"message": "hello"}`] };
  }
  return { ok: true, value: value as Record<string, unknown> };
}
