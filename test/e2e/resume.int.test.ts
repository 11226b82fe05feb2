/**
 * Resuming with `since`: every change carries a position; a channel that joins again with the last
 * position it saw gets every change committed meanwhile (filters and row-level security applied as
 * for live ones), in order, none twice, then the live ones, with no gap between the two. A position
 * the history no longer covers gets a HistoryGap system message and the channel stays live.
 * Real processes: PostgreSQL, Redis, the ingester (history kept: HISTORY_MAX_LEN 200 so a gap is
 * cheap to produce) and one gateway; frames checked with PhoenixTestClient and realtime-js.
 */
import { RealtimeClient } from '@supabase/realtime-js';
import WebSocket from 'ws';
import {
  PhoenixTestClient,
  sql,
  startStackWithSchema,
  waitFor,
  type Backends,
  type PhoenixFrame,
  type WalcastStack,
} from '@walcast/test-utils';

let backends: Backends;
let stack: WalcastStack;
let db: string;
const open: Array<{ close(): unknown }> = [];

const TOPIC = 'realtime:resume';

beforeAll(async () => {
  ({ backends, stack } = await startStackWithSchema(
    [
      'create table items (id int primary key, kind text, note text)',
      'create table other (id int primary key)',
      'create table capped (id int primary key)',
      'create publication supabase_realtime for all tables',
    ],
    { ingesterEnv: { HISTORY_MAX_LEN: '200' } },
  ));
  db = backends.pg.url;
});

afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
});

async function client(): Promise<PhoenixTestClient> {
  const c = await PhoenixTestClient.connect(`${stack.endpoint(0)}/websocket`, { vsn: '1.0.0' });
  open.push(c);
  return c;
}

function config(bindings: Array<Record<string, unknown>>) {
  return {
    config: { broadcast: { self: false }, presence: { key: '' }, postgres_changes: bindings, private: false },
  };
}

const changes = (c: PhoenixTestClient, topic = TOPIC): PhoenixFrame[] =>
  c.framesFor(topic, 'postgres_changes');
const dataOf = (f: PhoenixFrame) => (f.payload as { data: Record<string, unknown> }).data;
const ids = (frames: PhoenixFrame[]) => frames.map((f) => (dataOf(f).record as { id: number }).id);

async function insert(table: string, from: number, to: number, kind = 'a'): Promise<void> {
  await sql(
    db,
    `insert into ${table} (id${table === 'items' ? ', kind' : ''}) select g${table === 'items' ? `, '${kind}'` : ''} from generate_series(${from}, ${to}) g`,
  );
}

/** Joins, waits for "Subscribed to PostgreSQL", returns its payload. */
async function join(c: PhoenixTestClient, bindings: Array<Record<string, unknown>>, topic = TOPIC) {
  await c.join(topic, config(bindings));
  return (
    await c.next(
      (f) => f.topic === topic && f.event === 'system' && (f.payload as { status?: string }).status === 'ok',
    )
  ).payload as Record<string, unknown>;
}

describe('positions', () => {
  it('every change carries a totally ordered position, and the subscribed message the last one heard', async () => {
    const c = await client();
    await join(c, [{ event: 'INSERT', schema: 'public', table: 'items' }]);
    await insert('items', 1, 3);
    await waitFor(() => changes(c).length === 3);
    const positions = changes(c).map((f) => dataOf(f).position as string);
    expect(positions.every((p) => /^[0-9A-F]{16}-[0-9A-F]{8}$/.test(p))).toBe(true);
    expect([...positions].sort()).toEqual(positions);
    expect(new Set(positions).size).toBe(3);
    const late = await client();
    const subscribed = await join(late, [{ event: 'INSERT', schema: 'public', table: 'items' }]);
    expect(subscribed.position).toBe(positions[2]);
  });
});

describe('resume after a disconnect', () => {
  it('gets every change committed meanwhile, in order, none twice, then live ones', async () => {
    await sql(db, 'truncate items');
    const first = await client();
    const binding = { event: '*', schema: 'public', table: 'items' };
    await join(first, [binding]);
    await insert('items', 100, 104);
    await waitFor(() => changes(first).length === 5);
    const since = dataOf(changes(first)[2]!).position as string; // it saw 102 last, say
    await first.close();
    await insert('items', 105, 149);
    const second = await client();
    await join(second, [{ ...binding, since }]);
    await insert('items', 150, 151);
    await waitFor(() => changes(second).length === 49);
    expect(ids(changes(second))).toEqual(Array.from({ length: 49 }, (_, i) => 103 + i));
    // Barrier: a later change arrives after everything; nothing else came in between.
    await insert('items', 152, 152);
    await waitFor(() => changes(second).length === 50);
    expect(ids(changes(second)).at(-1)).toBe(152);
  });

  it('applies the binding filter to the replay', async () => {
    const c1 = await client();
    const binding = { event: 'INSERT', schema: 'public', table: 'items', filter: 'kind=eq.b' };
    await join(c1, [binding]);
    await insert('items', 200, 200, 'b');
    await waitFor(() => changes(c1).length === 1);
    const since = dataOf(changes(c1)[0]!).position as string;
    await c1.close();
    await insert('items', 201, 210, 'a');
    await insert('items', 211, 213, 'b');
    const c2 = await client();
    await join(c2, [{ ...binding, since }]);
    await waitFor(() => changes(c2).length === 3);
    expect(ids(changes(c2))).toEqual([211, 212, 213]);
  });

  it('a legacy join resumes with `since` in its payload', async () => {
    const c1 = await client();
    await c1.join('realtime:public:other', {});
    await insert('other', 1, 2);
    await waitFor(() => c1.framesFor('realtime:public:other', 'INSERT').length === 2);
    const since = (c1.framesFor('realtime:public:other', 'INSERT')[0]!.payload as { position: string })
      .position;
    await c1.close();
    await insert('other', 3, 5);
    const c2 = await client();
    await c2.join('realtime:public:other', { since });
    await waitFor(() => c2.framesFor('realtime:public:other', 'INSERT').length === 4);
    expect(
      c2
        .framesFor('realtime:public:other', 'INSERT')
        .map((f) => (f.payload as { record: { id: number } }).record.id),
    ).toEqual([2, 3, 4, 5]);
    const refused = await client();
    const reply = await refused.join('realtime:public:other', { since: 'yesterday' });
    expect(reply.payload).toMatchObject({
      status: 'error',
      response: { reason: expect.stringMatching(/^InvalidPosition: /) },
    });
  });

  it('a position older than the history gets a HistoryGap naming the oldest position held, then stays live', async () => {
    const c1 = await client();
    const binding = { event: 'INSERT', schema: 'public', table: 'capped' };
    await join(c1, [binding]);
    await insert('capped', 1, 1);
    await waitFor(() => changes(c1).length === 1);
    const since = dataOf(changes(c1)[0]!).position as string;
    await c1.close();
    for (let i = 0; i < 3; i++) await insert('capped', 2 + i * 300, 301 + i * 300); // 900 changes, history ~200
    // The ingester publishes and trims as it goes: until it has, a join with `since` is replayed to.
    await waitFor(
      async () => {
        const probe = await client();
        await probe.join(TOPIC, config([{ ...binding, since }]));
        const first = await probe.next(
          (f) => f.event === 'postgres_changes' || (f.event === 'system' && f.payload['status'] === 'error'),
        );
        await probe.close();
        return first.event === 'system';
      },
      { timeoutMs: 30_000, message: 'the history to be trimmed past since' },
    );
    const c2 = await client();
    await c2.join(TOPIC, config([{ ...binding, since }]));
    const gap = await c2.next(
      (f) => f.event === 'system' && (f.payload as { status?: string }).status === 'error',
    );
    expect(gap.payload).toMatchObject({
      extension: 'postgres_changes',
      message: expect.stringMatching(
        /^HistoryGap: changes after [0-9A-F-]+ are no longer all held \(the oldest position held is [0-9A-F]{16}-[0-9A-F]{8}\)/,
      ),
    });
    await insert('capped', 5000, 5000);
    await waitFor(() => ids(changes(c2)).includes(5000));
    // Changes still on their way when it joined may precede it (they are after `since`), in order, once.
    const got = ids(changes(c2));
    expect(got.at(-1)).toBe(5000);
    expect([...got].sort((a, b) => a - b)).toEqual(got);
    expect(new Set(got).size).toBe(got.length);
  });

  it('works with the published realtime-js client, `since` passed in its binding', async () => {
    const c1 = await client();
    await join(c1, [{ event: 'INSERT', schema: 'public', table: 'items' }]);
    await insert('items', 300, 300);
    await waitFor(() => changes(c1).length === 1);
    const since = dataOf(changes(c1)[0]!).position as string;
    await insert('items', 301, 303);
    const rt = new RealtimeClient(stack.endpoint(0), {
      params: { apikey: 'x' },
      transport: WebSocket as never,
    });
    open.push({ close: () => rt.disconnect() });
    const got: number[] = [];
    rt.channel('resume-js')
      .on(
        'postgres_changes',
        { event: 'INSERT', schema: 'public', table: 'items', since } as never,
        (p: { new: { id: number } }) => got.push(p.new.id),
      )
      .subscribe();
    await waitFor(() => got.length === 3);
    await insert('items', 304, 304);
    await waitFor(() => got.length === 4);
    expect(got).toEqual([301, 302, 303, 304]);
  });
});
