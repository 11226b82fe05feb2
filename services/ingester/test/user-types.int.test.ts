// Values of user-defined types (learned from pg_type while streaming) and schema changes
// mid-stream: nothing is dropped, each value gets a sensible JSON form, and `columns` follows
// ALTER TABLE.
import { type WalcastStack, sql, waitFor, type Backends, startStackWithSchema } from '@walcast/test-utils';

import { BusTap, type TapMessage } from './support';

// jest.config.js sets testTimeout per project, which jest 30 ignores (the default 5 s applies).
jest.setTimeout(30_000);

let backends: Backends;
let stack: WalcastStack;
let tap: BusTap;

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create type pair as (a int, b text)',
      'create domain posint as int check (value > 0)',
      `create type mood as enum ('sad', 'ok', 'happy')`,
      `create table public.typed (
       id int primary key, p pair, n posint, m mood, ms mood[], ps pair[], ns posint[])`,
      'create table public.evolving (id int primary key, a text)',
      `create table public.formatted (
       id int primary key, tz timestamptz, ts timestamp, d date, i interval, b bytea, f float8)`,
      // Session defaults the walsender would inherit if the ingester did not set its own.
      `alter database postgres set timezone = 'Asia/Kolkata'`,
      `alter database postgres set datestyle = 'SQL, DMY'`,
      `alter database postgres set intervalstyle = 'iso_8601'`,
      `alter database postgres set bytea_output = 'escape'`,
      `alter database postgres set extra_float_digits = -3`,
      'create publication supabase_realtime for all tables',
    ],
    { gateways: 0 },
  ));
  tap = await BusTap.open(backends.redis.url);
});

afterAll(async () => {
  await tap?.close();
  await stack?.stop();
  await backends?.stop();
});

async function nthOf(table: string, n: number): Promise<TapMessage> {
  return waitFor(() => tap.ofTable(table)[n - 1], { timeoutMs: 10_000, message: `change ${n} of ${table}` });
}

describe('user-defined types and schema changes', () => {
  it('formats values the same whatever the session defaults of the database are', async () => {
    await sql(
      backends.pg.url,
      `insert into formatted values (1, '2021-01-31 12:00:00.5+00', '2021-01-31 12:00:00', '2021-01-31',
         '1 day 02:03:04', '\\x0102ff', 0.1234567890123)`,
    );
    // A plain session does get the altered defaults.
    expect(await sql(backends.pg.url, 'show timezone')).toEqual([{ TimeZone: 'Asia/Kolkata' }]);
    const { event } = await nthOf('formatted', 1);
    expect(event['errors']).toBeNull();
    expect(event.record).toEqual({
      id: 1,
      tz: '2021-01-31T12:00:00.5+00:00',
      ts: '2021-01-31T12:00:00',
      d: '2021-01-31',
      i: '1 day 02:03:04',
      b: '0102ff',
      f: 0.1234567890123,
    });
  });

  it('converts composite, domain, enum and their arrays with errors: null', async () => {
    await sql(
      backends.pg.url,
      `insert into typed values (1, row(1, 'x y')::pair, 5, 'ok', '{sad,happy}',
         array[row(2, 'z')::pair, null], '{1,2}')`,
    );
    const { event } = await nthOf('typed', 1);
    expect(event['errors']).toBeNull();
    expect(event.record).toEqual({
      id: 1,
      p: '(1,"x y")',
      n: 5,
      m: 'ok',
      ms: ['sad', 'happy'],
      ps: ['(2,z)', null],
      ns: [1, 2],
    });
    expect(event['columns']).toEqual([
      { name: 'id', type: 'int4' },
      { name: 'p', type: 'pair' },
      { name: 'n', type: 'posint' },
      { name: 'm', type: 'mood' },
      { name: 'ms', type: '_mood' },
      { name: 'ps', type: '_pair' },
      { name: 'ns', type: '_posint' },
    ]);
  });

  it('reflects ALTER TABLE ADD COLUMN, of a type created mid-stream, in the next change', async () => {
    await sql(backends.pg.url, `insert into evolving values (1, 'first')`);
    const first = await nthOf('evolving', 1);
    expect(first.event['columns']).toEqual([
      { name: 'id', type: 'int4' },
      { name: 'a', type: 'text' },
    ]);

    await sql(
      backends.pg.url,
      `create domain percent as numeric(5,2) check (value between 0 and 100)`,
      'alter table evolving add column b int, add column c percent',
      `insert into evolving values (2, 'second', 42, 12.5)`,
      `update evolving set b = 7 where id = 1`,
    );
    const second = await nthOf('evolving', 2);
    expect(second.event['errors']).toBeNull();
    expect(second.event['columns']).toEqual([
      { name: 'id', type: 'int4' },
      { name: 'a', type: 'text' },
      { name: 'b', type: 'int4' },
      { name: 'c', type: 'percent' },
    ]);
    expect(second.event.record).toMatchObject({ id: 2, a: 'second', b: 42 });
    expect(Number(second.event.record?.['c'])).toBe(12.5);
    const third = await nthOf('evolving', 3);
    expect(third.event).toMatchObject({ type: 'UPDATE', record: { id: 1, a: 'first', b: 7, c: null } });

    await sql(
      backends.pg.url,
      'alter table evolving drop column a',
      `alter table evolving alter column b type text`,
      `insert into evolving values (3, 'x', 50)`,
    );
    const fourth = await nthOf('evolving', 4);
    expect(fourth.event['columns']).toEqual([
      { name: 'id', type: 'int4' },
      { name: 'b', type: 'text' },
      { name: 'c', type: 'percent' },
    ]);
    expect(fourth.event.record).toMatchObject({ id: 3, b: 'x' });
    expect(fourth.event['errors']).toBeNull();
  });
});
