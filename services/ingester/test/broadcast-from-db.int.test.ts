// Broadcasts sent from the database: the managed realtime schema, realtime.send / send_binary /
// broadcast_changes arriving on their broadcast topics through the ingester's slot, failed sends
// that warn without aborting, rows that cannot be delivered, and realtime.messages never showing up
// as a table change even under a FOR ALL TABLES publication.
import { Client } from 'pg';

import { type WalcastStack, sql, waitFor, type Backends, startStackWithSchema } from '@walcast/test-utils';

import { BroadcastTap, BusTap, metricValue, sleep } from './support';

jest.setTimeout(30_000);

let backends: Backends;
let stack: WalcastStack;
let tap: BroadcastTap;
let tables: BusTap;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      // Two of Supabase's three client roles: grants go to those that exist.
      'create role anon nologin',
      'create role authenticated nologin',
      'create table public.todos (id int primary key, title text)',
      'create table public.audit (id int primary key)',
      // FOR ALL TABLES includes realtime.messages: its rows must still never be table changes.
      'create publication supabase_realtime for all tables',
    ],
    { gateways: 0, ingesterEnv: { MAX_BROADCAST_BYTES: '1KiB' } },
  ));
  tap = await BroadcastTap.open(backends.redis.url);
  tables = await BusTap.open(backends.redis.url);
});

afterAll(async () => {
  await tap?.close();
  await tables?.close();
  await stack?.stop();
  await backends?.stop();
});

async function waitForCount(subtopic: string, n: number): Promise<void> {
  await waitFor(() => tap.of(subtopic).length >= n, {
    timeoutMs: 10_000,
    intervalMs: 20,
    message: `${n} broadcasts on ${subtopic} (have ${tap.of(subtopic).length})`,
  });
}

describe('the managed realtime schema', () => {
  it('creates the table, functions, publication, row level security and grants to the roles that exist', async () => {
    const [row] = await sql(
      backends.pg.url,
      `select
         (select array_agg(version order by version) from realtime.walcast_schema_migrations) as versions,
         (select relrowsecurity from pg_class where oid = 'realtime.messages'::regclass) as rls,
         (select relkind from pg_class where oid = 'realtime.messages'::regclass) as kind,
         to_regprocedure('realtime.topic()') is not null as topic,
         to_regprocedure('realtime.send(jsonb, text, text, boolean)') is not null as send,
         to_regprocedure('realtime.send_binary(bytea, text, text, boolean)') is not null as send_binary,
         to_regprocedure('realtime.broadcast_changes(text, text, text, text, text, record, record, text)') is not null as bc,
         (select pubinsert and not pubupdate and not pubdelete from pg_publication where pubname = 'walcast_messages') as inserts_only,
         exists (select 1 from pg_publication_tables where pubname = 'walcast_messages' and tablename = 'messages') as published,
         has_table_privilege('anon', 'realtime.messages', 'insert, select, update') as anon,
         has_table_privilege('authenticated', 'realtime.messages', 'insert') as authenticated,
         has_schema_privilege('anon', 'realtime', 'usage') as usage`,
    );
    expect(row).toEqual({
      versions: [1, 2],
      rls: true,
      kind: 'r',
      topic: true,
      send: true,
      send_binary: true,
      bc: true,
      inserts_only: true,
      published: true,
      anon: true,
      authenticated: true,
      usage: true,
    });
  });

  it('sets realtime.topic() for the transaction of a send', async () => {
    const client = new Client({ connectionString: backends.pg.url });
    await client.connect();
    try {
      await client.query('begin');
      expect((await client.query('select realtime.topic() as t')).rows[0].t).toBeNull();
      await client.query(`select realtime.send('{}', 'e', 'topic-check', false)`);
      expect((await client.query('select realtime.topic() as t')).rows[0].t).toBe('topic-check');
      await client.query('commit');
      expect((await client.query('select realtime.topic() as t')).rows[0].t).toBeNull();
    } finally {
      await client.end();
    }
  });
});

describe('realtime.send', () => {
  it('publishes the user envelope on the private topic, payload.id set and meta.id equal to it', async () => {
    await sql(backends.pg.url, `select realtime.send('{"a":1}', 'e', 'room1', true)`);
    await waitForCount('room1', 1);
    const [msg] = tap.of('room1');
    expect(msg!.isPrivate).toBe(true);
    expect(msg!.header).toMatchObject({ v: 1, shape: 'user', event: 'e', enc: 'json' });
    expect(typeof msg!.header.src).toBe('string');
    expect(Math.abs(msg!.header.ts! - Date.now())).toBeLessThan(10_000);
    const payload = JSON.parse(msg!.payloadText) as { a: number; id: string };
    expect(payload.a).toBe(1);
    expect(payload.id).toMatch(UUID);
    expect(msg!.header.meta).toEqual({
      id: payload.id,
      position: expect.stringMatching(/^[0-9A-F]{16}-[0-9A-F]{8}$/),
    });
    const [row] = await sql(
      backends.pg.url,
      `select id::text, extension, private from realtime.messages where topic = 'room1'`,
    );
    expect(row).toEqual({ id: payload.id, extension: 'broadcast', private: true });
  });

  it('keeps a payload id, uses it as meta.id, and sends public messages on the public topic', async () => {
    const id = '5b0c7f4e-8a51-4c1e-9a43-0d8a35f0a001';
    await sql(backends.pg.url, `select realtime.send('{"id":"${id}","b":[1,2]}', 'ev', 'lobby', false)`);
    await waitForCount('lobby', 1);
    const [msg] = tap.of('lobby');
    expect(msg!.isPrivate).toBe(false);
    expect(JSON.parse(msg!.payloadText)).toEqual({ id, b: [1, 2] });
    expect(msg!.header.meta).toEqual({ id, position: expect.stringMatching(/^[0-9A-F]{16}-[0-9A-F]{8}$/) });
  });

  it('delivers the messages of one transaction in the order they were sent, and replay reads them in that order', async () => {
    await sql(
      backends.pg.url,
      `do $$ begin for i in 1..50 loop perform realtime.send(jsonb_build_object('n', i), 'seq', 'ordered', true); end loop; end $$`,
    );
    await waitForCount('ordered', 50);
    expect(tap.payloads('ordered').map((p) => p['n'])).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const rows = await sql(
      backends.pg.url,
      `select payload->>'n' as n from realtime.messages
       where topic = 'ordered' and private and extension = 'broadcast' and inserted_at >= timezone('utc', now()) - interval '1 hour'
       order by inserted_at desc limit 25`,
    );
    expect(rows.map((r) => Number(r['n'])).reverse()).toEqual(Array.from({ length: 25 }, (_, i) => i + 26));
    const plan = await sql(
      backends.pg.url,
      `set enable_seqscan = off`,
      `explain select * from realtime.messages where topic = 'ordered' and private and extension = 'broadcast'
       and inserted_at >= '2020-01-01' order by inserted_at desc limit 25`,
    );
    expect(plan.map((l) => String(l['QUERY PLAN'])).join('\n')).toContain('messages_replay_index');
  });

  it('turns a failure into the warning WarnSendingBroadcastMessage and lets the transaction commit', async () => {
    const client = new Client({ connectionString: backends.pg.url });
    const notices: string[] = [];
    client.on('notice', (n) => notices.push(`${n.severity}: ${n.message}`));
    await client.connect();
    try {
      await client.query('begin');
      await client.query('insert into audit values (1)');
      // topic is not null in realtime.messages: the insert fails inside send.
      await client.query(`select realtime.send('{"x":1}', 'e', null, true)`);
      await client.query('insert into audit values (2)');
      await client.query('commit');
    } finally {
      await client.end();
    }
    expect(
      notices.some((n) => /^WARNING: WarnSendingBroadcastMessage: .*null value in column "topic"/.test(n)),
    ).toBe(true);
    expect(await sql(backends.pg.url, 'select id from audit order by id')).toEqual([{ id: 1 }, { id: 2 }]);
  });
});

describe('realtime.send_binary', () => {
  it('publishes the bytes base64-encoded with enc binary', async () => {
    await sql(backends.pg.url, `select realtime.send_binary('\\x00ff10'::bytea, 'bin', 'bytes', true)`);
    await waitForCount('bytes', 1);
    const [msg] = tap.of('bytes');
    expect(msg!.header).toMatchObject({ shape: 'user', event: 'bin', enc: 'binary' });
    expect(msg!.header.meta?.['id']).toMatch(UUID);
    expect(Buffer.from(msg!.payloadText, 'base64')).toEqual(Buffer.from([0x00, 0xff, 0x10]));
  });
});

describe('realtime.broadcast_changes', () => {
  it('sends the INSERT, UPDATE and DELETE shapes from a row trigger', async () => {
    await sql(
      backends.pg.url,
      `create function public.todos_broadcast() returns trigger language plpgsql as $$
       begin
         perform realtime.broadcast_changes('todos:' || coalesce(new.id, old.id)::text, tg_op, tg_op,
           tg_table_name, tg_table_schema, new, old);
         return null;
       end $$`,
      `create trigger todos_broadcast after insert or update or delete on public.todos
         for each row execute function public.todos_broadcast()`,
      `insert into todos values (7, 'a')`,
      `update todos set title = 'b' where id = 7`,
      `delete from todos where id = 7`,
    );
    await waitForCount('todos:7', 3);
    const [ins, upd, del] = tap.payloads('todos:7');
    expect(tap.of('todos:7').map((m) => m.header.event)).toEqual(['INSERT', 'UPDATE', 'DELETE']);
    expect(tap.of('todos:7').every((m) => m.isPrivate)).toBe(true);
    const common = { table: 'todos', schema: 'public' };
    expect(ins).toEqual({
      ...common,
      operation: 'INSERT',
      record: { id: 7, title: 'a' },
      old_record: null,
      id: ins!['id'],
    });
    expect(upd).toEqual({
      ...common,
      operation: 'UPDATE',
      record: { id: 7, title: 'b' },
      old_record: { id: 7, title: 'a' },
      id: upd!['id'],
    });
    expect(del).toEqual({
      ...common,
      operation: 'DELETE',
      record: null,
      old_record: { id: 7, title: 'b' },
      id: del!['id'],
    });
    for (const [i, p] of [ins, upd, del].entries())
      expect(tap.of('todos:7')[i]!.header.meta).toEqual({
        id: p!['id'],
        position: expect.stringMatching(/^[0-9A-F]{16}-[0-9A-F]{8}$/),
      });
  });

  it('refuses a statement-level call', async () => {
    await expect(
      sql(
        backends.pg.url,
        `select realtime.broadcast_changes('t', 'e', 'INSERT', 'x', 'public', null::record, null::record, 'STATEMENT')`,
      ),
    ).rejects.toThrow(/only be triggered for each row/);
  });
});

describe('rows that cannot be delivered', () => {
  it('drops rows with no event or a payload over MAX_BROADCAST_BYTES, counts them, and keeps streaming', async () => {
    await sql(
      backends.pg.url,
      `insert into realtime.messages (topic, extension, payload, event, private) values ('bad', 'broadcast', '{}', null, true)`,
      `insert into realtime.messages (topic, extension, payload, event, private) values ('bad', 'broadcast', null, 'e', true)`,
      `select realtime.send(jsonb_build_object('big', repeat('x', 2000)), 'e', 'bad', true)`,
      `select realtime.send_binary(decode(repeat('ab', 2000), 'hex'), 'e', 'bad', true)`,
      // Not a broadcast: skipped without a count.
      `insert into realtime.messages (topic, extension, payload, event) values ('bad', 'presence', '{}', 'e')`,
      `select realtime.send('{"ok":true}', 'e', 'after-bad', true)`,
    );
    await waitForCount('after-bad', 1);
    expect(tap.of('bad')).toEqual([]);
    await waitFor(
      async () =>
        (await metricValue(
          stack.healthPort,
          'walcast_ingester_broadcasts_dropped_total{reason="invalid"}',
        )) === 2 &&
        (await metricValue(
          stack.healthPort,
          'walcast_ingester_broadcasts_dropped_total{reason="too_large"}',
        )) === 2,
      { timeoutMs: 5000, message: 'two invalid and two too_large drops counted' },
    );
    const warns = stack.ingester!.logs.filter((l) => l['code'] === 'BroadcastDropped');
    expect(warns.map((w) => w['reason']).sort()).toEqual(['invalid', 'invalid', 'too_large', 'too_large']);
    expect(
      await metricValue(stack.healthPort, 'walcast_ingester_broadcasts_published_total'),
    ).toBeGreaterThan(0);
  });
});

describe('security', () => {
  it('never publishes rows of realtime.messages as table changes, even under FOR ALL TABLES', async () => {
    await sql(
      backends.pg.url,
      `select realtime.send('{"secret":1}', 'e', 'private-room', true)`,
      `update realtime.messages set event = 'changed' where topic = 'private-room'`,
      `delete from realtime.messages where topic = 'private-room'`,
      `insert into audit values (99)`,
    );
    await waitForCount('private-room', 1);
    await waitFor(() => tables.ofTable('audit').some((m) => m.event.record?.['id'] === 99), {
      timeoutMs: 10_000,
      message: 'the audit row after the messages',
    });
    await sleep(200);
    expect(
      tables.messages.filter((m) => m.event['schema'] === 'realtime' && m.event['table'] === 'messages'),
    ).toEqual([]);
    expect(tables.messages.some((m) => m.eventJson.includes('secret'))).toBe(false);
    expect(tap.malformed).toEqual([]);
  });
});
