// The realtime schema's life: migrations run twice (or by two ingesters at once) apply each
// version once; a database left at an older version is upgraded by a starting ingester whose slot
// predates the messages table, without losing table changes and with broadcasts working after; and
// MANAGE_SCHEMA=false creates nothing, says what is missing, and works once the documented SQL ran.
import { Client } from 'pg';

import { WalcastStack, sql, waitFor, startBackends, type Backends } from '@walcast/test-utils';

import { MIGRATIONS } from '../src/schema/migrations';
import { migrateSchema } from '../src/schema/schema-manager';
import { BroadcastTap, BusTap, metricValue } from './support';

jest.setTimeout(60_000);

let backends: Backends;
let tap: BroadcastTap;
const stacks: WalcastStack[] = [];

beforeAll(async () => {
  backends = await startBackends();
  tap = await BroadcastTap.open(backends.redis.url);
});

afterAll(async () => {
  await tap?.close();
  await Promise.all(stacks.map((s) => s.stop()));
  await backends?.stop();
});

/** A fresh database on the test server, and its URL. */
async function database(name: string): Promise<string> {
  await sql(backends.pg.url, `create database ${name}`);
  const url = new URL(backends.pg.url);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withClient<T>(url: string, work: (db: Client) => Promise<T>): Promise<T> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    return await work(db);
  } finally {
    await db.end();
  }
}

async function startStack(
  url: string,
  slot: string,
  env: Record<string, string> = {},
): Promise<WalcastStack> {
  const stack = await WalcastStack.start(backends, {
    gateways: 0,
    slot,
    ingesterEnv: { DATABASE_URL: url, ...env },
  });
  stacks.push(stack);
  return stack;
}

describe('migrations', () => {
  it('apply each version once when run twice or by two ingesters at the same time', async () => {
    const url = await database('twice');
    const [a, b] = await Promise.all([
      withClient(url, (db) => migrateSchema(db)),
      withClient(url, (db) => migrateSchema(db)),
    ]);
    expect([...a.applied, ...b.applied].sort()).toEqual(MIGRATIONS.map((m) => m.version));
    const again = await withClient(url, (db) => migrateSchema(db));
    expect(again.applied).toEqual([]);
    expect(again).toMatchObject({ messagesPublication: true, messagesTable: true });
    expect(await sql(url, 'select version from realtime.walcast_schema_migrations order by version')).toEqual(
      MIGRATIONS.map((m) => ({ version: m.version })),
    );
  });

  it('upgrade an older version under a slot that predates it, losing no table change', async () => {
    const url = await database('upgrade');
    await sql(
      url,
      'create table public.items (id int primary key)',
      'create publication supabase_realtime for table public.items',
    );
    // A walcast from before the realtime schema: its slot, and changes it has not streamed yet.
    await sql(url, `select pg_create_logical_replication_slot('upgrade', 'pgoutput')`);
    await sql(url, 'insert into items values (1), (2), (3)');
    // Then a version that had only migration 1, and more changes.
    await withClient(url, (db) => migrateSchema(db, { upTo: 1 }));
    await sql(url, 'insert into items values (4), (5), (6)');
    const tables = await BusTap.open(backends.redis.url);
    try {
      const stack = await startStack(url, 'upgrade', { STATUS_INTERVAL: '200ms' });
      const ingester = stack.ingester!;
      expect(ingester.logs.some((l) => l['msg'] === 'realtime schema migrated')).toBe(true);
      await waitFor(() => tables.ofTable('items').length === 6, {
        timeoutMs: 10_000,
        message: 'the 6 items',
      });
      await waitFor(() => ingester.logs.some((l) => String(l['msg']).includes('reconnecting with it')), {
        timeoutMs: 10_000,
        message: 'the switch to both publications',
      });
      await sql(url, `select realtime.send('{"v":2}', 'e', 'upgraded', true)`);
      await waitFor(() => tap.of('upgraded').length === 1, { timeoutMs: 10_000, message: 'the broadcast' });
      expect(ingester.logs.filter((l) => l['level'] === 'warn')).toEqual([]);
      expect(await metricValue(stack.healthPort, 'walcast_ingester_stream_sessions_total')).toBe(2);
    } finally {
      await tables.close();
    }
  });
});

describe('MANAGE_SCHEMA=false', () => {
  it('creates nothing, says what is missing, and broadcasts once the documented SQL ran', async () => {
    const url = await database('unmanaged');
    await sql(
      url,
      'create table public.items (id int primary key)',
      'create publication supabase_realtime for all tables',
    );
    const stack = await startStack(url, 'unmanaged', { MANAGE_SCHEMA: 'false', STATUS_INTERVAL: '200ms' });
    const warn = stack.ingester!.logs.find((l) => l['code'] === 'RealtimeSchemaMissing');
    expect(warn?.['missing']).toEqual(
      expect.arrayContaining([
        'table realtime.messages',
        'publication walcast_messages (FOR TABLE realtime.messages)',
      ]),
    );
    expect(await sql(url, `select to_regnamespace('realtime') is null as none`)).toEqual([{ none: true }]);

    // Changes the slot has not streamed when the publication is created.
    await stack.ingester!.stop();
    await sql(url, 'insert into items values (1), (2), (3)');
    // docs/realtime-schema.md: the schema, then each migration in its own transaction.
    await sql(url, 'create schema realtime', ...MIGRATIONS.map((m) => m.sql));
    const tables = await BusTap.open(backends.redis.url);
    try {
      const ingester = await stack.startIngester();
      // pgoutput refuses the WAL from before the publication once; the ingester defers it.
      await waitFor(() => tables.ofTable('items').length === 3, {
        timeoutMs: 15_000,
        message: 'the 3 items',
      });
      await waitFor(() => ingester.logs.some((l) => String(l['msg']).includes('reconnecting with it')), {
        timeoutMs: 10_000,
        message: 'the switch to both publications',
      });
      await sql(url, `select realtime.send('{"v":1}', 'e', 'unmanaged-room', false)`);
      await waitFor(() => tap.of('unmanaged-room').length === 1, {
        timeoutMs: 10_000,
        message: 'the broadcast',
      });
      const warns = ingester.logs.filter((l) => l['level'] === 'warn').map((l) => l['code']);
      expect(warns.every((c) => c === 'RealtimeSchemaMissing' || c === 'ReplicationFailed')).toBe(true);
    } finally {
      await tables.close();
    }
    expect(
      await sql(url, `select to_regclass('realtime.walcast_schema_migrations') is null as none`),
    ).toEqual([{ none: true }]);
  });
});
