/**
 * Postgres changes on a Redis Cluster of three shards (REDIS_CLUSTER_NODES), with the published
 * @supabase/supabase-js 2.119.1 and @supabase/realtime-js 2.119.1 unchanged: the README's quick start
 * (with its filter), and schema-wide and all-schema bindings, which the gateways serve from the
 * fan-in channels, over tables whose topics live on different shards. One ingester, two gateways.
 * The same clients on one Redis are in modern-clients.int.test.ts.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { RealtimePostgresChangesPayload } from '@supabase/realtime-js';
import { hashSlot, topicForTable } from '@walcast/protocol';
import { WalcastStack, sql, startBackends, waitFor, type Backends } from '@walcast/test-utils';
import { ModernClient, Transport, describeChange, disconnect } from './support/modern-client';

let backends: Backends;
let stack: WalcastStack;
let dbUrl: string;
const open: Array<{ close(): unknown }> = [];
/** Tables `t0`… whose topics are served by three different masters. */
let spread: string[];

beforeAll(async () => {
  backends = await startBackends({ redisCluster: { masters: 3 } });
  dbUrl = backends.pg.url;
  const masters = await backends.redisCluster!.masters();
  const byMaster = new Map<number, string>();
  for (let i = 0; byMaster.size < masters.length; i++) {
    const owner = await backends.redisCluster!.masterOf(hashSlot(topicForTable('public', `t${i}`)));
    if (!byMaster.has(owner.port)) byMaster.set(owner.port, `t${i}`);
  }
  spread = [...byMaster.values()];
  await sql(
    dbUrl,
    `create table public.users (id int primary key, name text, age int)`,
    `create table public.markers (id serial primary key, tag text)`,
    ...spread.map((t) => `create table public.${t} (id int primary key, v text)`),
    `create schema other`,
    `create table other.things (id int primary key, v text)`,
    `create publication supabase_realtime for all tables`,
  );
  stack = await WalcastStack.start(backends, { gateways: 2 });
});

afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
});

describe('supabase-js 2.119.1 on a Redis Cluster', () => {
  it('runs the README quick start unchanged: SUBSCRIBED, then the rows its filter lets through', async () => {
    const supabase: SupabaseClient = createClient(`http://127.0.0.1:${stack.gatewayPorts[0]}`, 'any-key', {
      realtime: { transport: Transport },
    });
    open.push({ close: () => disconnect(supabase.realtime) });
    const got: Array<RealtimePostgresChangesPayload<Record<string, unknown>>> = [];
    const statuses: string[] = [];
    supabase
      .channel('users')
      .on('postgres_changes', { event: '*', schema: 'public', table: 'users', filter: 'id=gt.10' }, (p) =>
        got.push(p),
      )
      .subscribe((status) => statuses.push(status));
    await waitFor(() => statuses.includes('SUBSCRIBED'), { message: 'SUBSCRIBED' });
    await sql(dbUrl, `insert into users values (5, 'low', 1)`, `insert into users values (11, 'Alice', 30)`);
    await sql(dbUrl, `update users set age = 31 where id = 11`);
    await waitFor(() => got.length >= 2, { message: 'the INSERT and UPDATE of id 11' });
    expect(statuses).toEqual(['SUBSCRIBED']);
    expect(got.map((p) => [p.eventType, (p.new as { id?: number }).id])).toEqual([
      ['INSERT', 11],
      ['UPDATE', 11],
    ]);
    expect(got[1]!.new).toEqual({ id: 11, name: 'Alice', age: 31 });
  });
});

describe('schema-wide and all-schema bindings across shards', () => {
  it('deliver every table’s changes, each table in commit order, on either gateway', async () => {
    const a = new ModernClient(stack.endpoint(1, '/realtime/v1'), '2.0.0', dbUrl);
    open.push(a);
    const listener = await a
      .listen('everything', [
        { event: '*', schema: 'public' },
        { event: 'INSERT', schema: '*' },
      ])
      .ready();
    const statements: string[] = [];
    for (let round = 1; round <= 5; round++) {
      for (const t of spread) statements.push(`insert into public.${t} values (${round}, 'r${round}')`);
    }
    statements.push(
      `insert into other.things values (1, 'x')`,
      `update public.${spread[0]} set v = 'u' where id = 1`,
    );
    await sql(dbUrl, ...statements);
    const publicChanges = 5 * spread.length + 1;
    await listener.waitForChanges(publicChanges, 0);
    await listener.waitForChanges(5 * spread.length + 1, 1);
    const summary = listener.changes(0).map(describeChange);
    for (const t of spread) {
      expect(summary.filter((s) => s.startsWith(`public.${t}:`))).toEqual([
        ...[1, 2, 3, 4, 5].map((id) => `public.${t}:INSERT:${id}`),
        ...(t === spread[0] ? [`public.${t}:UPDATE:1`] : []),
      ]);
    }
    const everySchema = listener.changes(1).map(describeChange);
    expect(everySchema).toContain('other.things:INSERT:1');
    expect(everySchema.filter((s) => s.startsWith('public.'))).toHaveLength(5 * spread.length);
  });
});
