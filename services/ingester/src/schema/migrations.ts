/**
 * The `realtime` schema walcast manages (MANAGE_SCHEMA): the table `realtime.messages` that SQL
 * sends broadcasts through, the functions `realtime.topic()`, `realtime.send()`,
 * `realtime.send_binary()` and `realtime.broadcast_changes()` with Supabase Realtime's signatures,
 * and the publication that brings the table's inserts through the ingester's slot.
 *
 * This file is the one source of that SQL: schema-manager.ts applies it, and `pnpm docs:schema`
 * prints it into docs/realtime-schema.md (checked for drift by `pnpm docs:check`). Imports nothing.
 *
 * Invariants:
 * - Migrations are append-only: a released migration's SQL never changes; a change is a new version.
 * - Each migration runs in its own transaction. The publication is created (empty) by version 1,
 *   and the table is added to it by version 2, in a later transaction: the WAL position recorded
 *   when version 2 starts is then after the publication's creation, and the ingester streams the
 *   publication only from there (see schema-manager.ts, `messagesFromLsn`). Before PostgreSQL 18,
 *   pgoutput fails on any change decoded under a catalog that lacks a publication it was asked for.
 * - Every statement is idempotent (`if not exists`, `create or replace`, catalog checks), so a
 *   schema created by hand from the docs is adopted by a managed ingester without error.
 */

/** The publication that carries `realtime.messages` inserts (and nothing else) to the ingester. */
export const MESSAGES_PUBLICATION = 'walcast_messages';

/** Where walcast records applied migrations (not Supabase's `realtime.schema_migrations`). */
export const MIGRATIONS_TABLE = 'realtime.walcast_schema_migrations';

/** The roles Supabase projects have; the grants go to those that exist. */
export const CLIENT_ROLES = ['anon', 'authenticated', 'service_role'] as const;

export interface Migration {
  version: number;
  name: string;
  /** One or more statements, run in one transaction. */
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages publication',
    sql: `do $$
begin
  if not exists (select 1 from pg_publication where pubname = '${MESSAGES_PUBLICATION}') then
    -- Inserts only: retention deletes and updates never need to reach the ingester.
    create publication ${MESSAGES_PUBLICATION} with (publish = 'insert');
  end if;
end $$;`,
  },
  {
    version: 2,
    name: 'messages table and functions',
    sql: `-- Not partitioned: a partitioned table loses every message sent while the partition for its day
-- is missing. Retention deletes old rows in bounded batches instead (index messages_inserted_at_index).
-- inserted_at defaults to clock_timestamp(), not now(): the messages of one transaction get
-- increasing times, so ordering by inserted_at replays them in the order they were sent.
create table if not exists realtime.messages (
  topic text not null,
  extension text not null,
  payload jsonb,
  binary_payload bytea,
  event text,
  private boolean default false,
  updated_at timestamp not null default timezone('utc', now()),
  inserted_at timestamp not null default timezone('utc', clock_timestamp()),
  id uuid not null default gen_random_uuid(),
  constraint messages_pkey primary key (id),
  constraint messages_payload_exclusive check (payload is null or binary_payload is null)
);

-- Replay: where topic = $1 and private and extension = 'broadcast' and inserted_at >= $2
-- order by inserted_at desc limit 25.
create index if not exists messages_replay_index on realtime.messages (topic, inserted_at)
  where extension = 'broadcast' and private;

-- Retention: the oldest rows first.
create index if not exists messages_inserted_at_index on realtime.messages (inserted_at);

alter table realtime.messages enable row level security;

create or replace function realtime.topic() returns text
  language sql stable
  as $$ select nullif(current_setting('realtime.topic', true), '')::text $$;

-- Adds payload.id (a new uuid) unless the payload has an id. The row's id is the payload's id when
-- that is a uuid, so meta.id of the delivered frame equals payload.id. Never aborts the caller's
-- transaction: any error becomes the warning WarnSendingBroadcastMessage.
create or replace function realtime.send(payload jsonb, event text, topic text, private boolean default true)
  returns void
  language plpgsql
  as $$
declare
  message_id uuid;
  final_payload jsonb;
begin
  begin
    if payload ? 'id' then
      final_payload := payload;
      if jsonb_typeof(payload -> 'id') = 'string'
         and (payload ->> 'id') ~* '^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$' then
        message_id := (payload ->> 'id')::uuid;
      else
        message_id := gen_random_uuid();
      end if;
    else
      message_id := gen_random_uuid();
      final_payload := jsonb_set(payload, '{id}', to_jsonb(message_id));
    end if;
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (id, payload, event, topic, private, extension)
      values (message_id, final_payload, event, topic, private, 'broadcast');
  exception
    when others then
      raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end;
$$;

create or replace function realtime.send_binary(payload bytea, event text, topic text, private boolean default true)
  returns void
  language plpgsql
  as $$
begin
  begin
    perform set_config('realtime.topic', topic, true);
    insert into realtime.messages (id, binary_payload, event, topic, private, extension)
      values (gen_random_uuid(), payload, event, topic, private, 'broadcast');
  exception
    when others then
      raise warning 'WarnSendingBroadcastMessage: %', sqlerrm;
  end;
end;
$$;

-- For row triggers: sends {old_record, record, operation, table, schema} (record is null on
-- DELETE, old_record on INSERT) with realtime.send, which adds id.
create or replace function realtime.broadcast_changes(
  topic_name text, event_name text, operation text, table_name text, table_schema text,
  new record, old record, level text default 'ROW'
)
  returns void
  language plpgsql
  as $$
declare
  row_data jsonb;
begin
  if level = 'STATEMENT' then
    raise exception 'function can only be triggered for each row, not for each statement';
  end if;
  if operation in ('INSERT', 'UPDATE', 'DELETE') then
    row_data := jsonb_build_object(
      'old_record', old, 'record', new, 'operation', operation, 'table', table_name, 'schema', table_schema
    );
    perform realtime.send(row_data, event_name, topic_name);
  else
    raise exception 'Unexpected operation type: %', operation;
  end if;
exception
  when others then
    raise exception 'Failed to process the row: %', sqlerrm;
end;
$$;

do $$
begin
  if not exists (
    select 1 from pg_publication_tables
    where pubname = '${MESSAGES_PUBLICATION}' and schemaname = 'realtime' and tablename = 'messages'
  ) then
    alter publication ${MESSAGES_PUBLICATION} add table realtime.messages;
  end if;
end $$;`,
  },
];

/**
 * Run at every start after the migrations (roles may be created after the schema was): usage on the
 * schema and insert/select/update on `realtime.messages` for the client roles that exist. Rows stay
 * behind row level security; what a role may send or read is decided by policies on the table.
 */
export const GRANTS_SQL = `do $$
declare
  role_name text;
begin
  for role_name in
    select rolname from pg_roles where rolname in (${CLIENT_ROLES.map((r) => `'${r}'`).join(', ')})
  loop
    if not has_schema_privilege(role_name, 'realtime', 'usage') then
      execute format('grant usage on schema realtime to %I', role_name);
    end if;
    if not (has_table_privilege(role_name, 'realtime.messages', 'insert')
            and has_table_privilege(role_name, 'realtime.messages', 'select')
            and has_table_privilege(role_name, 'realtime.messages', 'update')) then
      execute format('grant insert, select, update on realtime.messages to %I', role_name);
    end if;
  end loop;
end $$;`;

/** What must exist for broadcasts from SQL to work; schema-manager.ts checks it when MANAGE_SCHEMA=false. */
export const REQUIRED_OBJECTS = [
  { kind: 'table', name: 'realtime.messages', check: `to_regclass('realtime.messages') is not null` },
  { kind: 'function', name: 'realtime.topic()', check: `to_regprocedure('realtime.topic()') is not null` },
  {
    kind: 'function',
    name: 'realtime.send(jsonb, text, text, boolean)',
    check: `to_regprocedure('realtime.send(jsonb, text, text, boolean)') is not null`,
  },
  {
    kind: 'function',
    name: 'realtime.send_binary(bytea, text, text, boolean)',
    check: `to_regprocedure('realtime.send_binary(bytea, text, text, boolean)') is not null`,
  },
  {
    kind: 'function',
    name: 'realtime.broadcast_changes(text, text, text, text, text, record, record, text)',
    check: `to_regprocedure('realtime.broadcast_changes(text, text, text, text, text, record, record, text)') is not null`,
  },
  {
    kind: 'publication',
    name: `${MESSAGES_PUBLICATION} (FOR TABLE realtime.messages)`,
    check: `exists (select 1 from pg_publication_tables where pubname = '${MESSAGES_PUBLICATION}' and schemaname = 'realtime' and tablename = 'messages')`,
  },
] as const;
