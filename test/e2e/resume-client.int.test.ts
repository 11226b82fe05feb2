/**
 * The `@walcast/resume` helper with the unchanged published clients: a supabase-js 2.x channel and
 * a realtime-js 1.x channel keep following a table across a gateway restart (rows inserted while
 * it was down arrive once it is back, in order, none twice, without the application doing
 * anything), and a HistoryGap reaches `onHistoryGap` once. Real processes: PostgreSQL, Redis, the
 * ingester (HISTORY_MAX_LEN 100) and one gateway, restarted on the same port.
 */
import { createClient } from '@supabase/supabase-js';
import { RealtimeClient as RealtimeClientV1 } from '@supabase/realtime-js-v1';
import { resumable, type HistoryGap } from '@walcast/resume';
import { sql, startStackWithSchema, waitFor, type Backends, type WalcastStack } from '@walcast/test-utils';
import { Transport, disconnect } from './support/modern-client';

let backends: Backends;
let stack: WalcastStack;
let db: string;
const open: Array<() => unknown> = [];

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table notes (id int primary key)',
      'create table legacy_notes (id int primary key)',
      'create table busy (id int primary key)',
      'create publication supabase_realtime for all tables',
    ],
    { ingesterEnv: { HISTORY_MAX_LEN: '100' } },
  ));
  db = backends.pg.url;
});

afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
});

const insert = (table: string, from: number, to: number) =>
  sql(db, `insert into ${table} select g from generate_series(${from}, ${to}) g`);

/** The gateway goes away (a deploy) while `meanwhile` runs, then comes back on the same port. */
async function restartGatewayAround(meanwhile: () => Promise<unknown>): Promise<void> {
  await stack.gateways[0]!.stop();
  await meanwhile();
  await stack.startGateway(0);
}

function supabaseClient() {
  const supabase = createClient(`http://127.0.0.1:${stack.gatewayPorts[0]}`, 'any-key', {
    realtime: { transport: Transport, reconnectAfterMs: () => 100 },
  });
  open.push(() => disconnect(supabase.realtime));
  return supabase;
}

/**
 * A supabase-js channel following INSERTs of `table` through `resumable`: the ids received, the
 * gaps reported, and how many times it reached SUBSCRIBED (once when this resolves).
 */
async function follow(table: string) {
  const got: number[] = [];
  const gaps: HistoryGap[] = [];
  let times = 0;
  const channel = resumable(
    supabaseClient()
      .channel(table)
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table }, (p) =>
        got.push((p.new as { id: number }).id),
      ),
    { onHistoryGap: (gap) => gaps.push(gap) },
  );
  channel.subscribe((status) => {
    if (status === 'SUBSCRIBED') times++;
  });
  await waitFor(() => times === 1);
  return { got, gaps, channel, subscribed: () => times };
}

describe('@walcast/resume', () => {
  it('a supabase-js channel gets the rows inserted while its gateway was down', async () => {
    const { got, gaps, channel, subscribed } = await follow('notes');
    await insert('notes', 1, 3);
    await waitFor(() => got.length === 3);
    expect(channel.position()).toMatch(/^[0-9A-F]{16}-[0-9A-F]{8}$/);
    await restartGatewayAround(() => insert('notes', 4, 40));
    await waitFor(() => subscribed() === 2, { timeoutMs: 20_000 });
    await insert('notes', 41, 41);
    await waitFor(() => got.includes(41), { timeoutMs: 10_000 });
    expect(got).toEqual(Array.from({ length: 41 }, (_, i) => i + 1));
    expect(gaps).toEqual([]);
  });

  it('a realtime-js 1.x channel does the same with `since` in its join params', async () => {
    const client = new RealtimeClientV1(stack.endpoint(0), { reconnectAfterMs: () => 100 });
    client.connect();
    open.push(() => client.disconnect());
    const got: number[] = [];
    const channel = resumable(client.channel('realtime:public:legacy_notes'));
    channel.on('INSERT', (p: { record: { id: number } }) => got.push(p.record.id));
    let joined = 0;
    channel.subscribe().receive('ok', () => joined++);
    await waitFor(() => joined === 1);
    await insert('legacy_notes', 1, 2);
    await waitFor(() => got.length === 2);
    await restartGatewayAround(() => insert('legacy_notes', 3, 20));
    await insert('legacy_notes', 21, 21);
    await waitFor(() => got.includes(21), { timeoutMs: 20_000 });
    expect(got).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
  });

  it('tells the application once when the history no longer covers what it missed, and stays live', async () => {
    const { got, gaps } = await follow('busy');
    await insert('busy', 1, 1);
    await waitFor(() => got.length === 1);
    await restartGatewayAround(() => insert('busy', 2, 1000)); // far more than the history keeps
    await waitFor(() => gaps.length === 1, { timeoutMs: 20_000 });
    expect(gaps[0]!.message).toMatch(/^HistoryGap: /);
    expect(gaps[0]!.oldest).toMatch(/^[0-9A-F]{16}-[0-9A-F]{8}$/);
    await insert('busy', 2000, 2000);
    await waitFor(() => got.includes(2000), { timeoutMs: 10_000 });
    expect(gaps).toHaveLength(1);
  });
});
