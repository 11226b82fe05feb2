/**
 * End to end with the original client: PostgreSQL → ingester → Redis → gateway → the published
 * @supabase/realtime-js 1.7.5, unchanged. One ingester, two gateways, real processes; every case on one
 * Redis and on a Redis Cluster of three shards (schema and `realtime:*` topics then come from the
 * fan-in channels).
 */
import { PhoenixTestClient, WalcastStack, sql, startBackends, type Backends } from '@walcast/test-utils';
import { LegacyClient } from './support/legacy-client';
import { REDIS_SETUPS } from './support/redis-backends';

describe.each(REDIS_SETUPS)('on %s', (_setup, redisOptions) => {
  let backends: Backends;
  let stack: WalcastStack;
  const clients: LegacyClient[] = [];

  function client(gateway = 0, path = '/socket'): LegacyClient {
    const c = new LegacyClient(stack.endpoint(gateway, path));
    clients.push(c);
    return c;
  }

  beforeAll(async () => {
    backends = await startBackends(redisOptions);
    await sql(
      backends.pg.url,
      `create type mood as enum ('sad', 'ok', 'happy')`,
      `create table public.users (id int primary key, name text, age int, data jsonb)`,
      `create table public.full_users (id int primary key, name text, age int)`,
      `alter table public.full_users replica identity full`,
      `create table public.big (id int primary key, body text, note text)`,
      `create table public.big_full (id int primary key, body text, note text)`,
      `alter table public.big_full replica identity full`,
      `create table public.all_types (
        id int primary key, c_int2 int2, c_int4 int4, c_int8 int8, c_numeric numeric, c_float4 float4,
        c_float8 float8, c_bool bool, c_json json, c_jsonb jsonb, c_int_arr int4[], c_text_arr text[],
        c_text text, c_varchar varchar(20), c_uuid uuid, c_ts timestamp, c_tstz timestamptz, c_date date,
        c_time time, c_bytea bytea, c_mood mood, c_mood_arr mood[], c_interval interval, c_null text)`,
      `create schema other`,
      `create table other.things (id int primary key, v text)`,
      `create publication supabase_realtime for all tables`,
    );
    stack = await WalcastStack.start(backends, { gateways: 2 });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await stack?.stop();
    await backends?.stop();
  });

  describe('realtime-js 1.7.5 against walcast', () => {
    it('receives INSERT, UPDATE and DELETE on a table topic, with typed values and the key as old_record', async () => {
      const c = client();
      await c.subscribe('realtime:public:users', ['*', 'INSERT', 'UPDATE', 'DELETE']);
      await sql(backends.pg.url, `insert into users values (1, 'Alice', 30, '{"a": 1}')`);
      await sql(backends.pg.url, `update users set age = 31 where id = 1`);
      await sql(backends.pg.url, `delete from users where id = 1`);
      const all = await c.waitForChanges('realtime:public:users', 3);
      expect(all.map((r) => r.payload.type)).toEqual(['INSERT', 'UPDATE', 'DELETE']);
      const [insert, update, del] = all.map((r) => r.payload);
      expect(insert).toMatchObject({
        schema: 'public',
        table: 'users',
        type: 'INSERT',
        errors: null,
        record: { id: 1, name: 'Alice', age: 30, data: { a: 1 } },
        columns: [
          { name: 'id', type: 'int4' },
          { name: 'name', type: 'text' },
          { name: 'age', type: 'int4' },
          { name: 'data', type: 'jsonb' },
        ],
      });
      expect(insert!.commit_timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(update).toMatchObject({ type: 'UPDATE', record: { id: 1, age: 31 }, old_record: { id: 1 } });
      expect(del).toMatchObject({ type: 'DELETE', old_record: { id: 1 } });
      expect(del).not.toHaveProperty('record');
      // Named listeners fire too, each once.
      expect(c.changes('realtime:public:users', 'INSERT')).toHaveLength(1);
      expect(c.changes('realtime:public:users', 'UPDATE')).toHaveLength(1);
      expect(c.changes('realtime:public:users', 'DELETE')).toHaveLength(1);
    });

    it('sends the whole old row under REPLICA IDENTITY FULL', async () => {
      const c = client();
      await c.subscribe('realtime:public:full_users');
      await sql(
        backends.pg.url,
        `insert into full_users values (1, 'Bob', 40)`,
        `update full_users set age = 41 where id = 1`,
      );
      await sql(backends.pg.url, `delete from full_users where id = 1`);
      const [, update, del] = (await c.waitForChanges('realtime:public:full_users', 3)).map((r) => r.payload);
      expect(update).toMatchObject({
        record: { id: 1, name: 'Bob', age: 41 },
        old_record: { id: 1, name: 'Bob', age: 40 },
      });
      expect(del).toMatchObject({ old_record: { id: 1, name: 'Bob', age: 41 } });
    });

    it('serves realtime:*, schema topics and both endpoint paths', async () => {
      const everything = client(0, '/realtime/v1');
      const schema = client(1);
      await everything.subscribe('realtime:*');
      await schema.subscribe('realtime:other');
      await sql(
        backends.pg.url,
        `insert into other.things values (1, 'x')`,
        `insert into users values (50, 'Zed', 1, null)`,
      );
      const all = await everything.waitForChanges('realtime:*', 2);
      expect(all.map((r) => `${r.payload.schema}.${r.payload.table}`).sort()).toEqual([
        'other.things',
        'public.users',
      ]);
      const other = await schema.waitForChanges('realtime:other', 1);
      expect(other[0]!.payload).toMatchObject({
        schema: 'other',
        table: 'things',
        record: { id: 1, v: 'x' },
      });
      // The users row must not reach the schema topic: a later change of `other` comes after it if it does.
      await sql(backends.pg.url, `insert into other.things values (2, 'marker')`);
      await schema.waitForChanges('realtime:other', 2);
      expect(schema.changes('realtime:other').map((r) => r.payload.table)).toEqual(['things', 'things']);
    });

    it('delivers only matching rows on column-filter topics, including the README dot form', async () => {
      const c = client();
      await c.subscribe('realtime:public:users:id=eq.7');
      await c.subscribe('realtime:public:users:name.eq.Dot Person');
      await sql(
        backends.pg.url,
        `insert into users values (6, 'Other', 1, null), (7, 'Seven', 1, null), (8, 'Dot Person', 1, null)`,
      );
      await sql(
        backends.pg.url,
        `update users set age = 2 where id in (6, 7)`,
        `delete from users where id = 7`,
      );
      const seven = await c.waitForChanges('realtime:public:users:id=eq.7', 3);
      expect(seven.map((r) => r.payload.type)).toEqual(['INSERT', 'UPDATE', 'DELETE']);
      const dot = await c.waitForChanges('realtime:public:users:name.eq.Dot Person', 1);
      expect(dot[0]!.payload).toMatchObject({ record: { id: 8 } });
      // Nothing else matches: a later matching change (row 9) arrives after anything that would.
      await sql(backends.pg.url, `insert into users values (9, 'Dot Person', 1, null)`);
      await c.waitForChanges('realtime:public:users:name.eq.Dot Person', 2);
      expect(c.changes('realtime:public:users:id=eq.7')).toHaveLength(3);
      expect(c.changes('realtime:public:users:name.eq.Dot Person')).toHaveLength(2);
    });

    it('converts every column type to typed JSON', async () => {
      const c = client();
      await c.subscribe('realtime:public:all_types');
      await sql(
        backends.pg.url,
        `insert into all_types values (1, -32768, 2147483647, 9007199254740993, 12345678901234567890.0012300,
          1.5, -2.25e-10, true, '{"k": [1, "two", null]}', '{"nested": {"x": 1.50}}', '{1,NULL,3}',
          '{"a b","c,d","e\\"f"}', 'héllo ✓', 'short', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
          '2021-02-16 23:47:47.516130', '2021-02-16 23:47:47.51613+02', '2021-02-16', '12:34:56.5',
          '\\x0102ff', 'happy', '{sad,ok}', '1 day 02:00:00', null)`,
      );
      const [change] = await c.waitForChanges('realtime:public:all_types', 1);
      const record = change!.payload.record as Record<string, unknown>;
      expect(record).toEqual({
        id: 1,
        c_int2: -32768,
        c_int4: 2147483647,
        c_int8: 9007199254740992, // the client's JSON.parse rounds; the wire keeps the digits (below)
        c_numeric: 12345678901234567000,
        c_float4: 1.5,
        c_float8: -2.25e-10,
        c_bool: true,
        c_json: { k: [1, 'two', null] },
        c_jsonb: { nested: { x: 1.5 } },
        c_int_arr: [1, null, 3],
        c_text_arr: ['a b', 'c,d', 'e"f'],
        c_text: 'héllo ✓',
        c_varchar: 'short',
        c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        c_ts: '2021-02-16T23:47:47.51613',
        c_tstz: '2021-02-16T21:47:47.51613+00:00',
        c_date: '2021-02-16',
        c_time: '12:34:56.5',
        c_bytea: '0102ff',
        c_mood: 'happy',
        c_mood_arr: ['sad', 'ok'],
        c_interval: '1 day 02:00:00',
        c_null: null,
      });
      const types = Object.fromEntries(
        (change!.payload.columns as Array<{ name: string; type: string }>).map((col) => [col.name, col.type]),
      );
      expect(types).toMatchObject({
        c_int8: 'int8',
        c_int_arr: '_int4',
        c_mood: 'mood',
        c_mood_arr: '_mood',
        c_tstz: 'timestamptz',
      });
    });

    it('keeps the exact digits of int8 and numeric on the wire', async () => {
      const raw = await PhoenixTestClient.connect(`${stack.endpoint(0)}/websocket`);
      try {
        await raw.join('realtime:public:all_types');
        await sql(
          backends.pg.url,
          `insert into all_types (id, c_int8, c_numeric) values (2, 9223372036854775807, 0.10000000000000000000000000001)`,
        );
        const frame = await raw.next((f) => f.event === 'INSERT');
        expect(frame.raw).toContain('"c_int8":9223372036854775807');
        expect(frame.raw).toContain('"c_numeric":0.10000000000000000000000000001');
      } finally {
        void raw.close();
      }
    });

    it('delivers a row larger than 1 MB intact, and leaves an unchanged TOAST value out instead of a placeholder', async () => {
      const c = client();
      await c.subscribe('realtime:public:big');
      await c.subscribe('realtime:public:big_full');
      const body = `(select string_agg(md5(i::text), '') from generate_series(1, 40000) i)`;
      await sql(
        backends.pg.url,
        `insert into big values (1, ${body}, 'n1')`,
        `insert into big_full values (1, ${body}, 'n1')`,
      );
      await sql(
        backends.pg.url,
        `update big set note = 'n2' where id = 1`,
        `update big_full set note = 'n2' where id = 1`,
      );
      const [insert, update] = (await c.waitForChanges('realtime:public:big', 2, '*', 20_000)).map(
        (r) => r.payload,
      );
      const record = insert!.record as Record<string, string>;
      expect(record.body).toHaveLength(40000 * 32);
      expect(record.body?.startsWith('c4ca4238a0b923820dcc509a6f75849b')).toBe(true);
      expect(update!.record).toEqual({ id: 1, note: 'n2' });
      const [, fullUpdate] = (await c.waitForChanges('realtime:public:big_full', 2, '*', 20_000)).map(
        (r) => r.payload,
      );
      expect((fullUpdate!.record as Record<string, string>).body).toHaveLength(40000 * 32);
    });

    it('delivers TRUNCATE to table topics', async () => {
      const c = client();
      await c.subscribe('realtime:public:full_users', ['TRUNCATE']);
      await sql(backends.pg.url, `truncate full_users`);
      const [t] = await c.waitForChanges('realtime:public:full_users', 1, 'TRUNCATE');
      expect(t!.payload).toMatchObject({
        type: 'TRUNCATE',
        schema: 'public',
        table: 'full_users',
        errors: null,
      });
    });

    it('gives a client on each of two gateways the same changes', async () => {
      const a = client(0);
      const b = client(1);
      await a.subscribe('realtime:public:users');
      await b.subscribe('realtime:public:users');
      await sql(
        backends.pg.url,
        `insert into users select g, 'u' || g, g, null from generate_series(100, 149) g`,
      );
      const got = await Promise.all([a, b].map((c) => c.waitForChanges('realtime:public:users', 50)));
      const ids = got.map((changes) => changes.map((r) => (r.payload.record as { id: number }).id));
      expect(ids[0]).toEqual(Array.from({ length: 50 }, (_, i) => 100 + i));
      expect(ids[1]).toEqual(ids[0]);
    });

    it('answers a malformed frame with an error to its sender only, while others keep receiving', async () => {
      const healthy = client(0);
      await healthy.subscribe('realtime:public:users');
      const bad = await PhoenixTestClient.connect(`${stack.endpoint(0)}/websocket`);
      try {
        bad.sendRaw('{"topic": "realtime:public:users", "event":');
        const reply = await bad.next((f) => f.event === 'phx_reply');
        expect(reply.payload).toEqual({
          status: 'error',
          response: { reason: expect.stringMatching(/^ProtocolViolation: /) },
        });
        expect(bad.isOpen).toBe(true);
        await sql(backends.pg.url, `insert into users values (300, 'after', 1, null)`);
        await healthy.waitForChanges('realtime:public:users', 1);
      } finally {
        void bad.close();
      }
    });
  });
});
