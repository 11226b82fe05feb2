/**
 * End to end with today's clients: PostgreSQL → ingester → Redis → gateway → the published
 * @supabase/supabase-js 2.119.1, @supabase/realtime-js 2.119.1 (vsn 1.0.0 and 2.0.0) and the
 * `phoenix` 1.8 JS client, unchanged, plus frame-level checks of the modern protocol
 * (docs/protocol.md M1–M5) with PhoenixTestClient. One ingester, two gateways, real processes.
 *
 * Negative assertions ("this binding got nothing else") use an ordering barrier instead of sleeps
 * (see support/modern-client.ts).
 */
import WebSocket from 'ws';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { RealtimePostgresChangesPayload } from '@supabase/realtime-js';
import { Socket, type Channel } from 'phoenix';
import {
  PhoenixTestClient,
  WalcastStack,
  sql,
  startBackends,
  uniqueName,
  waitFor,
  type Backends,
  type PhoenixVsn,
} from '@walcast/test-utils';
import {
  MARKERS_TABLE,
  ModernClient,
  SUBSCRIBED_TO_POSTGRES,
  Transport,
  disconnect,
  type Change,
  type PgBinding,
  type Row,
  type Vsn,
} from './support/modern-client';

let backends: Backends;
let stack: WalcastStack;
let dbUrl: string;
/** Everything to close after each test. */
const open: Array<{ close(): unknown }> = [];

const VSNS: Vsn[] = ['1.0.0', '2.0.0'];
/** Per-vsn table suffix, so the two runs of a describe.each never see each other's rows. */
const sfx = (vsn: string): string => (vsn === '1.0.0' ? 'v1' : 'v2');
/** Microsecond ISO timestamps in UTC (docs/protocol.md E2). */
const COMMIT_TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/** `(id, name, age, status, active, note, born, uid)`; `full_*` has REPLICA IDENTITY FULL. */
const ITEM_COLUMNS = [
  { name: 'id', type: 'int4' },
  { name: 'name', type: 'text' },
  { name: 'age', type: 'int4' },
  { name: 'status', type: 'text' },
  { name: 'active', type: 'bool' },
  { name: 'note', type: 'text' },
  { name: 'born', type: 'date' },
  { name: 'uid', type: 'uuid' },
];

function modern(vsn: Vsn, gateway = 0): ModernClient {
  const c = new ModernClient(stack.endpoint(gateway, '/realtime/v1'), vsn, dbUrl);
  open.push(c);
  return c;
}

async function raw(vsn: PhoenixVsn, gateway = 0): Promise<PhoenixTestClient> {
  const c = await PhoenixTestClient.connect(`${stack.endpoint(gateway)}/websocket`, { vsn });
  open.push(c);
  return c;
}

/** The idiomatic join payload of realtime-js 2.x around `postgres_changes`. */
function joinPayload(postgresChanges: unknown): Record<string, unknown> {
  return {
    config: {
      broadcast: { ack: false, self: false },
      presence: { key: '', enabled: false },
      postgres_changes: postgresChanges,
      private: false,
    },
    access_token: 'any-key',
  };
}

/** Frame-level barrier: a marker row inserted now has reached `c` on its own channel. */
async function frameBarrier(c: PhoenixTestClient): Promise<void> {
  const topic = 'realtime:frame-barrier';
  if (c.framesFor(topic, 'phx_reply').length === 0) {
    await c.join(topic, joinPayload([{ event: 'INSERT', schema: 'public', table: MARKERS_TABLE }]));
    await c.next((f) => f.topic === topic && f.event === 'system');
  }
  const tag = uniqueName('marker');
  await sql(dbUrl, `insert into ${MARKERS_TABLE} (tag) values ('${tag}')`);
  await c.next(
    (f) => f.topic === topic && f.event === 'postgres_changes' && f.payload?.data?.record?.tag === tag,
    10_000,
  );
}

beforeAll(async () => {
  backends = await startBackends();
  dbUrl = backends.pg.url;
  const perVsn = VSNS.map(sfx).flatMap((s) => [
    `create table public.items_${s} (id int primary key, name text, age int, status text, active bool, note text, born date, uid uuid)`,
    `create table public.full_${s} (id int primary key, name text, age int, status text, active bool, note text, born date, uid uuid)`,
    `alter table public.full_${s} replica identity full`,
    `create table public.trunc_${s} (id int primary key)`,
  ]);
  await sql(
    dbUrl,
    `create table public.users (id int primary key, name text, age int, data jsonb)`,
    `create table public.${MARKERS_TABLE} (id serial primary key, tag text)`,
    `create schema other`,
    `create table other.things (id int primary key, v text)`,
    ...perVsn,
    `create publication supabase_realtime for all tables`,
  );
  stack = await WalcastStack.start(backends, { gateways: 2 });
});

/** Teardowns in progress: started after each test, awaited once at the end. */
const closing: unknown[] = [];

afterEach(() => {
  closing.push(...open.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await Promise.allSettled(closing);
  await stack?.stop();
  await backends?.stop();
});

describe('supabase-js 2.119.1 quick start', () => {
  interface User {
    id: number;
    name: string;
    age: number;
    data: { a: number };
  }

  it('reaches SUBSCRIBED and gets an INSERT committed right after it, with typed values', async () => {
    const port = stack.gatewayPorts[0]!;
    const supabase: SupabaseClient = createClient(`http://127.0.0.1:${port}`, 'any-key', {
      realtime: { transport: Transport },
    });
    open.push({ close: () => disconnect(supabase.realtime) });
    const got: Array<RealtimePostgresChangesPayload<User>> = [];
    const statuses: string[] = [];
    let insert: Promise<unknown> = Promise.resolve();
    supabase
      .channel('room1')
      .on<User>('postgres_changes', { event: '*', schema: 'public', table: 'users' }, (payload) => {
        got.push(payload);
      })
      .subscribe((status) => {
        statuses.push(status);
        if (status === 'SUBSCRIBED') {
          insert = sql(dbUrl, `insert into users values (1, 'Alice', 30, '{"a": 1}')`);
        }
      });
    await waitFor(() => got.length > 0, { timeoutMs: 10_000, message: 'the INSERT on room1' });
    await insert;
    expect(statuses).toEqual(['SUBSCRIBED']);
    expect(supabase.realtime.endpointURL()).toMatch(
      new RegExp(`^ws://127\\.0\\.0\\.1:${port}/realtime/v1/websocket\\?apikey=any-key&vsn=2\\.0\\.0$`),
    );
    const [payload] = got;
    expect(payload).toEqual({
      schema: 'public',
      table: 'users',
      commit_timestamp: expect.stringMatching(COMMIT_TS),
      eventType: 'INSERT',
      new: { id: 1, name: 'Alice', age: 30, data: { a: 1 } },
      old: {},
      errors: null,
    });
    if (payload?.eventType === 'INSERT') {
      const user: User = payload.new; // typed by the generic
      expect(user.data.a + user.age).toBe(31);
    }
    expect(Math.abs(Date.parse(payload!.commit_timestamp) - Date.now())).toBeLessThan(60_000);
  });
});

describe.each(VSNS)('realtime-js 2.119.1 RealtimeClient, vsn %s', (vsn) => {
  const items = `items_${sfx(vsn)}`;
  const full = `full_${sfx(vsn)}`;
  const base = vsn === '1.0.0' ? 1000 : 2000; // ids in tables both runs share
  const all = (table: string, extra: Partial<PgBinding> = {}): PgBinding => ({
    event: '*',
    schema: 'public',
    table,
    ...extra,
  });
  const ids = (changes: Change[]): unknown[] =>
    changes.map((c) => (c.eventType === 'DELETE' ? c.old : c.new).id);

  it('delivers INSERT, UPDATE and DELETE; old is {id} under DEFAULT identity, the whole row under FULL', async () => {
    const c = modern(vsn);
    const def = c.listen('crud', [all(items)]);
    const whole = c.listen('crud-full', [all(full)]);
    await Promise.all([def.ready(), whole.ready()]);
    for (const t of [items, full]) {
      await sql(
        dbUrl,
        `insert into ${t} (id, name, age, status) values (1, 'Ann', 30, 'open')`,
        `update ${t} set age = 31 where id = 1`,
        `delete from ${t} where id = 1`,
      );
    }
    const row = {
      id: 1,
      name: 'Ann',
      age: 30,
      status: 'open',
      active: null,
      note: null,
      born: null,
      uid: null,
    };
    const [ins, upd, del] = await def.waitForChanges(3);
    expect(ins).toEqual({
      schema: 'public',
      table: items,
      commit_timestamp: expect.stringMatching(COMMIT_TS),
      eventType: 'INSERT',
      new: row,
      old: {},
      errors: null,
    });
    expect(upd).toEqual({
      ...ins,
      commit_timestamp: expect.any(String),
      eventType: 'UPDATE',
      new: { ...row, age: 31 },
      old: { id: 1 },
    });
    expect(del).toEqual({
      ...ins,
      commit_timestamp: expect.any(String),
      eventType: 'DELETE',
      new: {},
      old: { id: 1 },
    });
    const [, fupd, fdel] = await whole.waitForChanges(3);
    expect(fupd).toMatchObject({ eventType: 'UPDATE', table: full, new: { ...row, age: 31 }, old: row });
    expect(fdel).toMatchObject({ eventType: 'DELETE', new: {}, old: { ...row, age: 31 } });
  });

  it('fires an event-specific binding only for its event', async () => {
    const c = modern(vsn);
    const l = c.listen('events', [
      all(items, { event: 'INSERT' }),
      all(items, { event: 'UPDATE' }),
      all(items, { event: 'DELETE' }),
      all(items),
    ]);
    await l.ready();
    await sql(
      dbUrl,
      `insert into ${items} (id, name) values (2, 'Bo')`,
      `update ${items} set name = 'Bob' where id = 2`,
      `delete from ${items} where id = 2`,
    );
    await c.barrier();
    expect(l.received.map((got) => got.map((ch) => ch.eventType))).toEqual([
      ['INSERT'],
      ['UPDATE'],
      ['DELETE'],
      ['INSERT', 'UPDATE', 'DELETE'],
    ]);
  });

  it('applies every filter operator, typed by column, with not. and AND', async () => {
    // expected ids of the four rows inserted below, per filter
    const cases: Array<[string, number[]]> = [
      ['age=eq.10', [11]],
      ['age=eq.010', [11]], // cast to int4 first, as PostgreSQL does
      ['age=neq.10', [12, 13, 14]],
      ['age=lt.10', [12]],
      ['age=lte.10', [11, 12]],
      ['age=gt.9', [11, 13, 14]], // numerically: as text '10' < '9'
      ['age=gte.30', [13, 14]],
      ['age=in.(9,100)', [12, 14]],
      ['status=in.(open,pending)', [11, 13, 14]],
      ['name=like.%o%', [12, 13]],
      ['name=like.%O%', []],
      ['name=ilike.%O%', [12, 13]],
      ['note=is.null', [11]],
      ['active=is.true', [11]],
      ['active=is.false', [12, 14]],
      ['active=is.null', [13]],
      ['name=match.^[A-C]', [11, 13]],
      ['name=imatch.^[a-c]', [11, 12, 13]],
      ['note=isdistinct.x', [11, 13]],
      ['status=not.eq.open', [12, 14]],
      ['age=not.gt.9', [12]],
      ['note=not.is.null', [12, 13, 14]],
      ['status=not.in.(open,closed)', [14]],
      ['age=gt.1,status=eq.open', [11, 13]],
      ['name=eq."Smith, J"', [14]],
      ['born=lt.2000-01-01', [11, 14]],
    ];
    const c = modern(vsn);
    const listeners = cases.map(([filter], i) =>
      c.listen(`filter-${i}`, [all(items, { event: 'INSERT', filter })]),
    );
    await Promise.all(listeners.map((l) => l.ready()));
    await sql(
      dbUrl,
      `insert into ${items} (id, name, age, status, active, note, born) values
        (11, 'Alice', 10, 'open', true, null, '1990-05-01'),
        (12, 'bob', 9, 'closed', false, 'x', '2005-01-01'),
        (13, 'Carol', 30, 'open', null, 'hello world', null),
        (14, 'Smith, J', 100, 'pending', false, 'x', '1999-12-31')`,
    );
    await c.barrier();
    const got = Object.fromEntries(cases.map(([filter], i) => [filter, ids(listeners[i]!.changes(0))]));
    expect(got).toEqual(Object.fromEntries(cases));
    for (const l of listeners) expect(l.system.filter((s) => s.status !== 'ok')).toEqual([]);
  });

  // BUG (gateway, filters/row-filter.ts): uuid values are compared as text, so an upper-case
  // uuid in a filter never matches; PostgreSQL compares 'A0EE…'::uuid = 'a0ee…'::uuid as equal.
  // (The equality index already lower-cases uuids; the full match in RowFilter then refuses.)
  it('compares uuid filter values as uuids (case-insensitively)', async () => {
    const uid = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
    const c = modern(vsn);
    const eq = c.listen('uuid-eq', [all(items, { event: 'INSERT', filter: `uid=eq.${uid.toUpperCase()}` })]);
    const inList = c.listen('uuid-in', [
      all(items, { event: 'INSERT', filter: `uid=in.(${uid.toUpperCase()})` }),
    ]);
    await Promise.all([eq.ready(), inList.ready()]);
    await sql(dbUrl, `insert into ${items} (id, uid) values (15, '${uid}')`);
    await c.barrier();
    expect([eq.summary(), inList.summary()]).toEqual([
      [`public.${items}:INSERT:15`],
      [`public.${items}:INSERT:15`],
    ]);
  });

  it('matches DELETE on old_record: key filters under DEFAULT identity, any column under FULL', async () => {
    const c = modern(vsn);
    const l = c.listen('deletes', [
      all(items, { filter: 'id=eq.31' }),
      all(items, { filter: 'name=eq.Eve' }),
      all(full, { filter: 'name=eq.Eve' }),
      all(full, { filter: 'age=gt.9' }),
    ]);
    await l.ready();
    for (const t of [items, full]) {
      await sql(
        dbUrl,
        `insert into ${t} (id, name, age) values (31, 'Eve', 40)`,
        `update ${t} set age = 5 where id = 31`,
        `delete from ${t} where id = 31`,
      );
    }
    await c.barrier();
    expect(l.received.map((got) => got.map((ch) => `${ch.table}:${ch.eventType}`))).toEqual([
      [`${items}:INSERT`, `${items}:UPDATE`, `${items}:DELETE`],
      [`${items}:INSERT`, `${items}:UPDATE`], // old_record is {id} only
      [`${full}:INSERT`, `${full}:UPDATE`, `${full}:DELETE`],
      [`${full}:INSERT`], // the UPDATE's record (age 5) and the DELETE's old_record no longer match
    ]);
  });

  it('projects a binding with select to the selected columns; other bindings keep the whole row', async () => {
    const c = modern(vsn);
    const l = c.listen('select', [all(items, { select: ['name'] }), all(items)]);
    await l.ready();
    await sql(dbUrl, `insert into ${items} (id, name, age, status) values (41, 'Sel', 7, 'open')`);
    const [ins] = await l.waitForChanges(1, 0);
    expect(ins).toMatchObject({ eventType: 'INSERT', new: { name: 'Sel' }, old: {} });
    expect(Object.keys(ins!.new).filter((k) => k !== 'id')).toEqual(['name']);
    const [whole] = await l.waitForChanges(1, 1);
    expect(whole!.new).toEqual({
      id: 41,
      name: 'Sel',
      age: 7,
      status: 'open',
      active: null,
      note: null,
      born: null,
      uid: null,
    });
  });

  // BUG (ingester): the bus header never carries `pk`, so the gateway's projection cannot keep
  // the primary key (protocol M4: the primary key is always included). Got new {name}, old {}
  // (see the frame test).
  it('keeps the primary key in a select projection, in new and old', async () => {
    const c = modern(vsn);
    const l = c.listen('select-pk', [all(items, { select: ['name'] })]);
    await l.ready();
    await sql(
      dbUrl,
      `insert into ${items} (id, name, age) values (42, 'Sel', 7)`,
      `update ${items} set age = 8 where id = 42`,
      `delete from ${items} where id = 42`,
    );
    const [ins, upd, del] = await l.waitForChanges(3, 0);
    expect(ins!.new).toEqual({ id: 42, name: 'Sel' });
    expect([upd!.new, upd!.old]).toEqual([{ id: 42, name: 'Sel' }, { id: 42 }]);
    expect(del!.old).toEqual({ id: 42 });
  });

  it('serves schema and table wildcards', async () => {
    const c = modern(vsn);
    const schema = c.listen('wild-schema', [{ event: '*', schema: 'public' }]);
    const everything = c.listen('wild-all', [{ event: '*', schema: '*', table: '*' }]);
    await Promise.all([schema.ready(), everything.ready()]);
    await sql(
      dbUrl,
      `insert into ${items} (id, name) values (51, 'w')`,
      `insert into other.things values (${base + 51}, 'w')`,
      `insert into ${full} (id, name) values (51, 'w')`,
    );
    await c.barrier();
    expect(schema.summary()).toEqual([`public.${items}:INSERT:51`, `public.${full}:INSERT:51`]);
    expect(everything.summary()).toEqual([
      `public.${items}:INSERT:51`,
      `other.things:INSERT:${base + 51}`,
      `public.${full}:INSERT:51`,
    ]);
  });

  it('stops delivering after removeChannel, and the same channel can be joined again', async () => {
    const c = modern(vsn);
    const removed = c.listen('removable', [all(items)]);
    const stays = c.listen('stays', [all(items)]);
    await Promise.all([removed.ready(), stays.ready()]);
    await sql(dbUrl, `insert into ${items} (id) values (61)`);
    await removed.waitForChanges(1);
    expect(await c.client.removeChannel(removed.channel)).toBe('ok');
    expect(c.client.getChannels().map((ch) => ch.topic)).not.toContain('realtime:removable');
    await sql(dbUrl, `insert into ${items} (id) values (62)`);
    await c.barrier();
    expect(removed.summary()).toEqual([`public.${items}:INSERT:61`]);
    expect(stays.summary()).toEqual([`public.${items}:INSERT:61`, `public.${items}:INSERT:62`]);
    const again = await c.listen('removable', [all(items)]).ready();
    await sql(dbUrl, `insert into ${items} (id) values (63)`);
    await c.barrier();
    expect(again.summary()).toEqual([`public.${items}:INSERT:63`]);
  });

  it('serves many channels on one socket and one channel on many sockets, on both gateways', async () => {
    // a single `eq` binding: the gateway finds these channels through its equality index
    const binding = all(items, { filter: 'id=eq.71' });
    const sockets = [modern(vsn, 0), modern(vsn, 0), modern(vsn, 1), modern(vsn, 1)];
    const shared = sockets.map((s) => s.listen('shared', [binding]));
    const many = Array.from({ length: 6 }, (_, i) => sockets[0]!.listen(`many-${i}`, [binding]));
    await Promise.all([...shared, ...many].map((l) => l.ready()));
    await sql(
      dbUrl,
      `insert into ${items} (id) values (70), (71), (72)`,
      `update ${items} set age = 1 where id in (70, 71, 72)`,
      `delete from ${items} where id in (70, 71, 72)`,
    );
    await Promise.all(sockets.map((s) => s.barrier()));
    for (const l of [...shared, ...many]) {
      expect(l.summary()).toEqual(['INSERT', 'UPDATE', 'DELETE'].map((t) => `public.${items}:${t}:71`));
    }
  });

  it('subscribes a channel without postgres_changes bindings with no system error', async () => {
    const c = modern(vsn);
    const l = c.listen('broadcast-only', [], { broadcast: { self: true } });
    await l.ready();
    await c.barrier();
    expect(l.statuses.map((s) => s.status)).toEqual(['SUBSCRIBED']);
    expect(l.system).toEqual([]);
  });

  it('answers an invalid filter with a system error and leaves the other channels working', async () => {
    const c = modern(vsn);
    const bad = c.listen('bad-filter', [all(items, { filter: 'id=like2.x' })]);
    const good = c.listen('good', [all(items)]);
    const error = await bad.waitForSystem((p) => p.status === 'error');
    expect(error).toEqual({
      channel: 'bad-filter',
      extension: 'postgres_changes',
      message: 'Error parsing `filter` params: ["like2","x"]',
      status: 'error',
    });
    await good.ready();
    await sql(dbUrl, `insert into ${items} (id) values (81)`);
    await good.waitForChanges(1);
    await c.barrier();
    expect(good.summary()).toEqual([`public.${items}:INSERT:81`]);
    expect(bad.changes()).toEqual([]);
    // a system error does not change the channel's state (protocol M2)
    expect(bad.statuses.map((s) => s.status)).toEqual(['SUBSCRIBED']);
    expect(good.system.map((s) => s.status)).toEqual(['ok']);
  });
});

describe.each(VSNS)('postgres_changes frames, vsn %s', (vsn) => {
  const items = `items_${sfx(vsn)}`;
  const trunc = `trunc_${sfx(vsn)}`;

  it('echoes config.postgres_changes verbatim with ids, and sends changes with the ids that matched', async () => {
    const c = await raw(vsn);
    const entries: Array<Record<string, unknown>> = [
      { event: '*', schema: 'public', table: items },
      { table: items, schema: 'public', event: 'INSERT', filter: 'id=gt.0' },
      { event: '*', schema: 'public', table: items },
      { event: 'UPDATE', schema: 'public', table: items, filter: 'age=gt.1,name=eq.x' },
      { event: '*', schema: 'public' },
      { event: 'INSERT', schema: 'public', table: items, select: ['name'] },
    ];
    const topic = 'realtime:frames';
    const reply = await c.join(topic, joinPayload(entries));
    expect(reply.payload).toEqual({ status: 'ok', response: { postgres_changes: expect.any(Array) } });
    const echo = reply.payload.response.postgres_changes as Array<Record<string, unknown>>;
    expect(echo).toHaveLength(entries.length);
    echo.forEach((e, i) => {
      const { id, ...rest } = e;
      expect(rest).toEqual(entries[i]);
      expect(Object.keys(rest)).toEqual(Object.keys(entries[i]!)); // same order
      expect(Number.isInteger(id) && (id as number) >= 0 && (id as number) < 2 ** 27).toBe(true);
    });
    const id = echo.map((e) => e.id as number);
    expect(id[2]).toBe(id[0]); // equal entries, equal ids
    expect(new Set(id).size).toBe(entries.length - 1);
    if (vsn === '2.0.0') expect(reply.joinRef).toBe(reply.ref);
    else expect(reply.raw).not.toContain('join_ref');

    const sys = await c.next((f) => f.topic === topic && f.event === 'system');
    expect(sys.payload).toEqual({
      channel: 'frames',
      extension: 'postgres_changes',
      message: SUBSCRIBED_TO_POSTGRES,
      status: 'ok',
      // The last position the gateway heard, once it heard one (protocol R1).
      ...('position' in sys.payload ? { position: expect.stringMatching(/^[0-9A-F]{16}-[0-9A-F]{8}$/) } : {}),
    });
    expect(sys.ref).toBeNull();
    if (vsn === '2.0.0') expect(sys.joinRef).toBe(reply.ref);

    await sql(
      dbUrl,
      `insert into ${items} (id, name, age) values (91, 'x', 5)`,
      `update ${items} set age = 2 where id = 91`,
      `delete from ${items} where id = 91`,
    );
    await frameBarrier(c);
    // binding 4 (the whole schema) also gets the barrier's markers
    const frames = c
      .framesFor(topic, 'postgres_changes')
      .filter((f) => f.payload.data.table !== MARKERS_TABLE);
    const row = { id: 91, name: 'x', age: 5, status: null, active: null, note: null, born: null, uid: null };
    const base = {
      schema: 'public',
      table: items,
      commit_timestamp: expect.stringMatching(COMMIT_TS),
      errors: null,
      position: expect.stringMatching(/^[0-9A-F]{16}-[0-9A-F]{8}$/),
    };
    const idsByType = new Map<string, number[]>();
    for (const f of frames) {
      expect([f.joinRef, f.ref]).toEqual([null, null]);
      expect(Object.keys(f.payload).sort()).toEqual(['data', 'ids']);
      const data = f.payload.data as Record<string, unknown>;
      for (const key of ['eventType', 'new', 'old']) expect(data).not.toHaveProperty(key);
      const frameIds = f.payload.ids as number[];
      idsByType.set(data.type as string, [...(idsByType.get(data.type as string) ?? []), ...frameIds]);
      if (frameIds.includes(id[5]!)) {
        // the select binding: its own frame, projected (the key is checked in a test below)
        expect(frameIds).toEqual([id[5]]);
        expect(data).toMatchObject({ ...base, type: 'INSERT', record: { name: 'x' } });
        expect(Object.keys(data.record as Row).filter((k) => k !== 'id')).toEqual(['name']);
        expect(
          (data.columns as Array<{ name: string }>).map((col) => col.name).filter((n) => n !== 'id'),
        ).toEqual(['name']);
      } else if (data.type === 'INSERT') {
        expect(data).toEqual({ ...base, type: 'INSERT', columns: ITEM_COLUMNS, record: row });
      } else if (data.type === 'UPDATE') {
        expect(data).toEqual({
          ...base,
          type: 'UPDATE',
          columns: ITEM_COLUMNS,
          record: { ...row, age: 2 },
          old_record: { id: 91 },
        });
      } else {
        expect(data).toEqual({ ...base, type: 'DELETE', columns: ITEM_COLUMNS, old_record: { id: 91 } });
      }
    }
    if (process.env.DEBUG_FRAMES)
      console.log(
        frames.map((f) => `${f.payload.data.type} ${JSON.stringify(f.payload.ids)}`),
        id,
      );
    const distinct = (xs: number[] | undefined): number[] => [...new Set(xs ?? [])].sort((a, b) => a - b);
    const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
    expect({
      INSERT: distinct(idsByType.get('INSERT')),
      UPDATE: distinct(idsByType.get('UPDATE')),
      DELETE: distinct(idsByType.get('DELETE')),
    }).toEqual({
      INSERT: sorted([id[0]!, id[1]!, id[4]!, id[5]!]),
      UPDATE: sorted([id[0]!, id[3]!, id[4]!]),
      DELETE: sorted([id[0]!, id[4]!]),
    });
  });

  // BUG (ingester): services/ingester/src/publish/confirming-publisher.ts builds the bus header
  // without `pk` (the encoder has it: EncodedChange.pk), so project() in
  // postgres-changes-group.ts keeps only the selected columns.
  it('keeps the primary key in a select projection (frame level)', async () => {
    const c = await raw(vsn);
    const entry = { event: '*', schema: 'public', table: items, select: ['name'] };
    await c.join('realtime:select', joinPayload([entry]));
    await c.next((f) => f.topic === 'realtime:select' && f.event === 'system');
    await sql(
      dbUrl,
      `insert into ${items} (id, name, age) values (92, 'y', 1)`,
      `delete from ${items} where id = 92`,
    );
    const ins = await c.next((f) => f.topic === 'realtime:select' && f.event === 'postgres_changes');
    const del = await c.next((f) => f.topic === 'realtime:select' && f.event === 'postgres_changes');
    expect(ins.payload.data.columns).toEqual([ITEM_COLUMNS[0], ITEM_COLUMNS[1]]);
    expect(ins.payload.data.record).toEqual({ id: 92, name: 'y' });
    expect(del.payload.data.old_record).toEqual({ id: 92 });
  });

  it('never sends TRUNCATE to a postgres_changes channel (a legacy channel on the same socket gets it)', async () => {
    const c = await raw(vsn);
    const modernTopic = 'realtime:truncs';
    const legacyTopic = `realtime:public:${trunc}`;
    expect((await c.join(legacyTopic)).payload.status).toBe('ok');
    await c.join(modernTopic, joinPayload([{ event: '*', schema: 'public', table: trunc }]));
    await c.next((f) => f.topic === modernTopic && f.event === 'system');
    await sql(
      dbUrl,
      `insert into ${trunc} values (1)`,
      `truncate ${trunc}`,
      `insert into ${trunc} values (2)`,
    );
    await waitFor(() => c.framesFor(modernTopic, 'postgres_changes').length >= 2, {
      timeoutMs: 10_000,
      message: 'two INSERT frames on the modern channel',
    });
    await frameBarrier(c);
    expect(c.framesFor(legacyTopic).map((f) => f.event)).toEqual([
      'phx_reply',
      'system', // "Subscribed to PostgreSQL", as the reference server sends to old-API joins (protocol L2)
      'INSERT',
      'TRUNCATE',
      'INSERT',
    ]);
    expect(c.framesFor(modernTopic).map((f) => f.event)).toEqual([
      'phx_reply',
      'system',
      'postgres_changes',
      'postgres_changes',
    ]);
    expect(c.framesFor(modernTopic, 'postgres_changes').map((f) => f.payload.data.type)).toEqual([
      'INSERT',
      'INSERT',
    ]);
  });

  it('answers a join with config and no postgres_changes with {postgres_changes: []} and no error', async () => {
    const c = await raw(vsn);
    const empty = await c.join('realtime:empty', joinPayload([]));
    expect(empty.payload).toEqual({ status: 'ok', response: { postgres_changes: [] } });
    const bare = await c.join('realtime:bare', { config: {} });
    expect(bare.payload).toEqual({ status: 'ok', response: { postgres_changes: [] } });
    expect((await c.heartbeat()).payload).toEqual({ status: 'ok', response: {} });
    await frameBarrier(c);
    expect(c.framesFor('realtime:empty').map((f) => f.event)).toEqual(['phx_reply']);
    expect(c.framesFor('realtime:bare').map((f) => f.event)).toEqual(['phx_reply']);
  });

  it('answers an invalid filter with ok, the echo, then a system error for that channel only', async () => {
    const c = await raw(vsn);
    const entry = { event: '*', schema: 'public', table: items, filter: 'id=like2.x' };
    const reply = await c.join('realtime:bad', joinPayload([entry]));
    expect(reply.payload).toEqual({
      status: 'ok',
      response: { postgres_changes: [{ id: expect.any(Number), ...entry }] },
    });
    const sys = await c.next((f) => f.topic === 'realtime:bad' && f.event === 'system');
    expect(sys.payload).toEqual({
      channel: 'bad',
      extension: 'postgres_changes',
      message: 'Error parsing `filter` params: ["like2","x"]',
      status: 'error',
    });
    if (vsn === '2.0.0') expect([sys.joinRef, sys.ref]).toEqual([reply.ref, null]);
    await frameBarrier(c);
    expect(c.framesFor('realtime:frame-barrier', 'system').map((f) => f.payload.status)).toEqual(['ok']);
  });
});

describe('one channel, sockets of both vsn on both gateways', () => {
  it('sends each socket the same postgres_changes payload in its own framing', async () => {
    const sockets = await Promise.all([raw('1.0.0', 0), raw('2.0.0', 0), raw('1.0.0', 1), raw('2.0.0', 1)]);
    const entries = [{ event: 'INSERT', schema: 'public', table: 'users', filter: 'id=eq.400' }];
    const replies = await Promise.all(sockets.map((c) => c.join('realtime:mixed', joinPayload(entries))));
    const ids = replies.map((r) => r.payload.response.postgres_changes[0].id as number);
    expect(new Set(ids).size).toBe(1); // same entry, same id, whichever gateway
    await Promise.all(
      sockets.map((c) => c.next((f) => f.topic === 'realtime:mixed' && f.event === 'system')),
    );
    await sql(dbUrl, `insert into users values (399, 'no', 1, null), (400, 'Mixed', 2, '[1, {"b": null}]')`);
    const frames = await Promise.all(
      sockets.map((c) => c.next((f) => f.topic === 'realtime:mixed' && f.event === 'postgres_changes')),
    );
    for (const [i, f] of frames.entries()) {
      expect(typeof f.raw === 'string' && f.raw.startsWith(i % 2 === 0 ? '{' : '[')).toBe(true);
      expect(f.payload).toEqual(frames[0]!.payload);
    }
    expect(frames[0]!.payload).toEqual({
      ids: [ids[0]],
      data: expect.objectContaining({
        type: 'INSERT',
        record: { id: 400, name: 'Mixed', age: 2, data: [1, { b: null }] },
      }),
    });
  });
});

describe('phoenix 1.8 JS client, vsn 2.0.0', () => {
  function joined(channel: Channel): Promise<unknown> {
    return new Promise((resolve, reject) => {
      channel
        .join()
        .receive('ok', resolve)
        .receive('error', (e) => reject(new Error(`join ${channel.topic}: ${JSON.stringify(e)}`)))
        .receive('timeout', () => reject(new Error(`join ${channel.topic} timed out`)));
    });
  }

  it('joins a legacy topic and a channel with config, and receives INSERT and postgres_changes', async () => {
    const socket = new Socket(stack.endpoint(1, '/realtime/v1'), {
      transport: WebSocket,
      vsn: '2.0.0',
      params: { apikey: 'any-key' },
    });
    open.push({ close: () => socket.disconnect() });
    socket.connect();
    expect(socket.endPointURL()).toMatch(/\/realtime\/v1\/websocket\?apikey=any-key&vsn=2\.0\.0$/);

    const legacy = socket.channel('realtime:public:users', {});
    const inserts: unknown[] = [];
    legacy.on('INSERT', (payload) => inserts.push(payload));
    await joined(legacy);

    const entry = { event: 'INSERT', schema: 'public', table: 'users', filter: 'id=gte.500' };
    const room = socket.channel('realtime:phx-room', { config: { postgres_changes: [entry] } });
    const changes: unknown[] = [];
    const system: unknown[] = [];
    room.on('postgres_changes', (payload) => changes.push(payload));
    room.on('system', (payload) => system.push(payload));
    const response = (await joined(room)) as { postgres_changes: Array<{ id: number }> };
    expect(response).toEqual({ postgres_changes: [{ id: expect.any(Number), ...entry }] });
    await waitFor(() => system.some((s) => (s as { message?: string }).message === SUBSCRIBED_TO_POSTGRES), {
      message: 'Subscribed to PostgreSQL on realtime:phx-room',
    });

    await sql(dbUrl, `insert into users values (499, 'Before', 1, null), (500, 'Phoenix', 2, '{"x": [1]}')`);
    await waitFor(() => inserts.length >= 2 && changes.length >= 1, {
      timeoutMs: 10_000,
      message: `2 INSERT and 1 postgres_changes; got ${inserts.length} and ${changes.length}`,
    });
    const record = { id: 500, name: 'Phoenix', age: 2, data: { x: [1] } };
    expect(inserts[1]).toMatchObject({ type: 'INSERT', schema: 'public', table: 'users', record });
    expect(changes).toEqual([
      {
        ids: [response.postgres_changes[0]!.id],
        data: expect.objectContaining({ type: 'INSERT', schema: 'public', table: 'users', record }),
      },
    ]);
  });
});

describe('gateway restart', () => {
  it('a realtime-js 2 client reconnects and rejoins by itself, then receives new changes', async () => {
    const c = modern('2.0.0', 0);
    const l = c.listen('survivor', [
      { event: 'INSERT', schema: 'public', table: 'users', filter: 'id=gte.600' },
    ]);
    await l.ready();
    await sql(dbUrl, `insert into users (id, name) values (600, 'before restart')`);
    await l.waitForChanges(1);

    const stoppedAt = Date.now();
    await stack.gateways[0]!.stop();
    await stack.startGateway(0);
    const subscribedToPg = (): number => l.system.filter((s) => s.message === SUBSCRIBED_TO_POSTGRES).length;
    await waitFor(() => l.subscribedCount >= 2 && subscribedToPg() >= 2, {
      timeoutMs: 30_000,
      message: 'SUBSCRIBED again after the gateway restart',
    });
    await sql(dbUrl, `insert into users (id, name) values (601, 'after restart')`);
    await l.waitForChanges(2);
    expect(l.summary()).toEqual(['public.users:INSERT:600', 'public.users:INSERT:601']);
    // the socket really dropped (the channel errored) and came back on the new process
    const statuses = l.statuses.map((s) => s.status);
    expect([statuses[0], statuses[1], statuses.at(-1)]).toEqual([
      'SUBSCRIBED',
      'CHANNEL_ERROR',
      'SUBSCRIBED',
    ]);
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(900); // the client's first backoff step
  }, 45_000);
});
