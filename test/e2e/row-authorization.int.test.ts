/**
 * Row-level security for postgres_changes (ROW_AUTHORIZATION=postgres, the default on secure
 * channels), end to end with supabase-js 2 clients holding different users' JWTs: each gets only
 * the rows and columns PostgreSQL lets its role and claims SELECT, judged on the row as committed.
 *
 * "Nothing arrived" is shown with a positive marker instead of a sleep: a later row the same
 * user may see. A channel's changes are delivered in commit order (its verdicts are queued in
 * order), so once the marker arrived, every earlier change was judged for that channel.
 */
import { randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { RealtimeChannel, RealtimePostgresChangesPayload } from '@supabase/realtime-js';
import {
  SUPABASE_AUTH_SQL,
  WalcastStack,
  freePort,
  sql,
  startBackends,
  waitFor,
  type Backends,
} from '@walcast/test-utils';
import { signHs256 } from './support/jwt';
import { Transport, disconnect, type Row } from './support/modern-client';

jest.setTimeout(60_000);

const SECRET = 'row-auth-test-secret-with-at-least-32-chars';
const U1 = randomUUID();
const U2 = randomUUID();

const SCHEMA = [
  ...SUPABASE_AUTH_SQL,
  'create table todos (id int primary key, owner uuid, title text, secret text)',
  'alter table todos enable row level security',
  'create policy own on todos for select to authenticated using (owner = auth.uid())',
  'grant select (id, owner, title) on todos to authenticated',
  'create table todos_full (id int primary key, owner uuid, title text)',
  'alter table todos_full replica identity full',
  'alter table todos_full enable row level security',
  'create policy own on todos_full for select to authenticated using (owner = auth.uid())',
  'grant select on todos_full to authenticated',
  'create table members (team int, user_id uuid)',
  'grant select on members to authenticated',
  'create table tasks (id int primary key, team int, title text)',
  'alter table tasks enable row level security',
  `create policy team on tasks for select to authenticated
     using (exists (select 1 from members m where m.team = tasks.team and m.user_id = auth.uid()))`,
  'grant select on tasks to authenticated',
  'create table nopk (a int, b text)',
  'grant select on nopk to authenticated',
  'create table hidden_pk (id int primary key, v text)',
  'grant select (v) on hidden_pk to authenticated',
  'create publication supabase_realtime for all tables',
];

let backends: Backends;
let stack: WalcastStack;
let dbUrl: string;
const open: Array<() => Promise<void>> = [];

beforeAll(async () => {
  backends = await startBackends();
  dbUrl = backends.pg.url;
  await sql(dbUrl, ...SCHEMA);
  stack = await WalcastStack.start(backends, {
    gateways: 1,
    gatewayEnv: { SECURE_CHANNELS: 'true', JWT_SECRET: SECRET, RLS_REFRESH_INTERVAL: '300ms' },
  });
}, 120_000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((close) => close()));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
}, 30_000);

type Change = RealtimePostgresChangesPayload<Row>;

const userToken = (sub: string, extra: Record<string, unknown> = {}): string =>
  signHs256({ role: 'authenticated', sub, ...extra }, SECRET);
const ANON_KEY = signHs256({ role: 'anon' }, SECRET);

/** A supabase-js client of `token`'s user, following `table` on one channel. */
async function follow(
  token: string,
  table: string,
  extra: { filter?: string } = {},
  gateway = 0,
): Promise<{
  supabase: SupabaseClient;
  channel: RealtimeChannel;
  got: Change[];
  system: Array<Record<string, unknown>>;
}> {
  const supabase = createClient(`http://127.0.0.1:${stack.gatewayPorts[gateway]}`, ANON_KEY, {
    realtime: { transport: Transport },
  });
  open.push(() => disconnect(supabase.realtime));
  await supabase.realtime.setAuth(token);
  const got: Change[] = [];
  const system: Array<Record<string, unknown>> = [];
  let subscribed = false;
  const channel = supabase
    .channel(`rls-${table}-${randomUUID()}`)
    .on('postgres_changes', { event: '*', schema: 'public', table, ...extra }, (p: Change) => got.push(p))
    .on('system', {}, (p: Record<string, unknown>) => system.push(p))
    .subscribe((status) => {
      if (status === 'SUBSCRIBED') subscribed = true;
    });
  await waitFor(() => subscribed && system.some((p) => p.status === 'ok' || p.status === 'error'), {
    timeoutMs: 10_000,
    message: `channel on ${table} subscribed`,
  });
  return { supabase, channel, got, system };
}

const idOf = (c: Change): unknown => (c.eventType === 'DELETE' ? c.old : c.new).id;

async function until(got: Change[], id: number, type?: string): Promise<Change> {
  return waitFor(() => got.find((c) => idOf(c) === id && (!type || c.eventType === type)), {
    timeoutMs: 10_000,
    message: `change ${type ?? ''} of id ${id}`,
  });
}

let nextId = 1;

describe('row visibility', () => {
  it('each user gets only their own rows, without the column they may not read', async () => {
    const a = await follow(userToken(U1), 'todos');
    const b = await follow(userToken(U2), 'todos');
    const mine = nextId++;
    const theirs = nextId++;
    await sql(
      dbUrl,
      `insert into todos values (${mine}, '${U1}', 'a', 's1'), (${theirs}, '${U2}', 'b', 's2')`,
    );
    const got = await until(a.got, mine);
    expect(got.new).toEqual({ id: mine, owner: U1, title: 'a' });
    expect(got.errors).toBeNull();
    await until(b.got, theirs);
    expect(a.got.map(idOf)).toEqual([mine]);
    expect(b.got.map(idOf)).toEqual([theirs]);
  });

  it('a row handed from one owner to the other moves with it (UPDATE judged on the new row)', async () => {
    const a = await follow(userToken(U1), 'todos');
    const b = await follow(userToken(U2), 'todos');
    const id = nextId++;
    await sql(dbUrl, `insert into todos values (${id}, '${U2}', 't', 's')`);
    await until(b.got, id, 'INSERT');
    await sql(dbUrl, `update todos set owner = '${U1}' where id = ${id}`);
    await until(a.got, id, 'UPDATE');
    await sql(dbUrl, `update todos set owner = '${U2}', title = 'back' where id = ${id}`);
    const back = await waitFor(() => b.got.find((c) => (c.new as Row).title === 'back'), {
      message: 'the UPDATE handing the row back',
    });
    expect(back.new).toMatchObject({ id, owner: U2 });
    expect(a.got.map((c) => c.eventType)).toEqual(['UPDATE']);
    expect(b.got.map((c) => c.eventType)).toEqual(['INSERT', 'UPDATE']);
  });

  it('a row inserted and deleted at once still reaches its owner: judged as committed', async () => {
    const a = await follow(userToken(U1), 'todos');
    const id = nextId++;
    await sql(
      dbUrl,
      `insert into todos values (${id}, '${U1}', 'brief', 's')`,
      `delete from todos where id = ${id}`,
    );
    await until(a.got, id, 'DELETE');
    expect(a.got.map((c) => c.eventType)).toEqual(['INSERT', 'DELETE']);
  });

  it('DELETE: DEFAULT identity gives everyone the key only; FULL gives the owner the old row', async () => {
    const a = await follow(userToken(U1), 'todos');
    const b = await follow(userToken(U2), 'todos');
    const id = nextId++;
    await sql(
      dbUrl,
      `insert into todos values (${id}, '${U1}', 'd', 's')`,
      `delete from todos where id = ${id}`,
    );
    expect((await until(a.got, id, 'DELETE')).old).toEqual({ id });
    expect((await until(b.got, id, 'DELETE')).old).toEqual({ id });
    const fa = await follow(userToken(U1), 'todos_full');
    const fb = await follow(userToken(U2), 'todos_full');
    await sql(
      dbUrl,
      `insert into todos_full values (${id}, '${U1}', 'full')`,
      `delete from todos_full where id = ${id}`,
    );
    expect((await until(fa.got, id, 'DELETE')).old).toEqual({ id, owner: U1, title: 'full' });
    expect((await until(fb.got, id, 'DELETE')).old).toEqual({ id });
    expect(fb.got.map((c) => c.eventType)).toEqual(['DELETE']);
  });

  it('a policy reading a membership table sees its current state', async () => {
    const a = await follow(userToken(U1), 'tasks');
    await sql(dbUrl, `insert into members values (7, '${U1}')`);
    const id = nextId++;
    const other = nextId++;
    await sql(dbUrl, `insert into tasks values (${other}, 8, 'not mine'), (${id}, 7, 'team')`);
    await until(a.got, id);
    expect(a.got.map(idOf)).toEqual([id]);
  });
});

describe('column privileges and error rows', () => {
  it('a filter on a column the role may not read is refused at join', async () => {
    const a = await follow(userToken(U1), 'todos', { filter: 'secret=eq.x' });
    const error = a.system.find((p) => p.status === 'error');
    expect(error?.message).toBe(
      'Unable to subscribe to changes with given parameters: column "secret" of public.todos is not readable by role "authenticated"',
    );
  });

  it('no primary key gives Error 400, an unreadable one Error 401, with no row data', async () => {
    const a = await follow(userToken(U1), 'nopk');
    await sql(dbUrl, `insert into nopk values (1, 'x')`);
    const noPk = await waitFor(() => a.got[0], { message: 'nopk change' });
    expect(noPk.errors).toEqual(['Error 400: Bad Request, no primary key']);
    expect(noPk.new).toEqual({});
    const b = await follow(userToken(U1), 'hidden_pk');
    await sql(dbUrl, `insert into hidden_pk values (1, 'x')`);
    const hidden = await waitFor(() => b.got[0], { message: 'hidden_pk change' });
    expect(hidden.errors).toEqual(['Error 401: Unauthorized']);
    expect(hidden.new).toEqual({});
  });

  it('anon, granted nothing, gets Error 401 rows and no data', async () => {
    const anon = await follow(ANON_KEY, 'todos');
    const id = nextId++;
    await sql(dbUrl, `insert into todos values (${id}, '${U1}', 'x', 's')`);
    const change = await waitFor(() => anon.got[0], { message: 'anon change' });
    expect(change.errors).toEqual(['Error 401: Unauthorized']);
    expect(change.new).toEqual({});
  });
});

describe('faults stay local', () => {
  it('a policy that raises for one user gives that user Error 500; the other user is served', async () => {
    const bad = await follow(userToken('not-a-uuid'), 'todos');
    const good = await follow(userToken(U1), 'todos');
    const id = nextId++;
    await sql(dbUrl, `insert into todos values (${id}, '${U1}', 'ok', 's')`);
    expect((await until(good.got, id)).new).toMatchObject({ id, title: 'ok' });
    const failed = await waitFor(() => bad.got[0], { message: 'the error row' });
    expect(failed.errors).toEqual(['Error 500: Internal Server Error, RLS policy evaluation failed']);
    expect(failed.new).toEqual({});
  });

  it('a JWT role that is not a PostgreSQL role is refused at join, naming it', async () => {
    const a = await follow(signHs256({ role: 'nobody', sub: U1 }, SECRET), 'todos');
    expect(a.system.find((p) => p.status === 'error')?.message).toBe(
      'Unable to subscribe to changes with given parameters: the JWT role "nobody" is not a PostgreSQL role (ROW_AUTHORIZATION=postgres)',
    );
  });
});

/** A TCP proxy to PostgreSQL that a test can cut and restore (the database "unreachable" for one gateway only). */
class CuttableProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Drops every connection and refuses new ones. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()) ?? resolve());
  }
}

describe('the database unreachable for checks', () => {
  it('fails closed (nothing sent, the channel told), then recovers by itself; compiled policies go on', async () => {
    const pg = new URL(dbUrl);
    const proxy = new CuttableProxy({ host: pg.hostname, port: Number(pg.port) });
    await proxy.open();
    const index = stack.gatewayPorts.length;
    stack.gatewayPorts.push(await freePort());
    const viaProxy = new URL(dbUrl);
    viaProxy.port = String(proxy.port);
    await stack.startGateway(index, { RLS_DATABASE_URL: viaProxy.toString(), RLS_CHECK_TIMEOUT: '1s' });
    try {
      // tasks' policy reads a membership table: PostgreSQL evaluates it (todos' compiles).
      await sql(dbUrl, `insert into members values (9, '${U1}')`);
      const a = await follow(userToken(U1), 'tasks', {}, index);
      const compiled = await follow(userToken(U1), 'todos', {}, index);
      const first = nextId++;
      await sql(dbUrl, `insert into tasks values (${first}, 9, 'before')`);
      await until(a.got, first);
      await proxy.cut();
      const during = nextId++;
      await sql(dbUrl, `insert into tasks values (${during}, 9, 'during')`);
      // A compiled policy needs no database: that channel is still served.
      const own = nextId++;
      await sql(dbUrl, `insert into todos values (${own}, '${U1}', 'compiled', 's')`);
      await until(compiled.got, own);
      const notice = await waitFor(
        () => a.system.find((p) => String(p.message).startsWith('RowAuthorizationUnavailable:')),
        { timeoutMs: 15_000, message: 'the RowAuthorizationUnavailable notice' },
      );
      expect(notice.status).toBe('error');
      await proxy.open();
      let after = nextId++;
      await waitFor(
        async () => {
          if (a.got.some((c) => idOf(c) === after)) return true;
          after = nextId++;
          await sql(dbUrl, `insert into tasks values (${after}, 9, 'after')`);
          return false;
        },
        { timeoutMs: 20_000, intervalMs: 500, message: 'delivery resumed after the database came back' },
      );
      expect(a.got.some((c) => idOf(c) === during)).toBe(false);
    } finally {
      await proxy.cut();
      await stack.gateways[index]?.stop();
      stack.gateways[index] = null;
    }
  });
});

describe('changes over time', () => {
  it('setAuth to another user changes what arrives from the next change on', async () => {
    const a = await follow(userToken(U1), 'todos');
    const first = nextId++;
    await sql(dbUrl, `insert into todos values (${first}, '${U1}', 'u1', 's')`);
    await until(a.got, first);
    await a.supabase.realtime.setAuth(userToken(U2));
    // The new token is pushed to the channel without reply: wait until a U2 row arrives.
    let probe = nextId++;
    await sql(dbUrl, `insert into todos values (${probe}, '${U2}', 'probe', 's')`);
    await waitFor(
      async () => {
        if (a.got.some((c) => idOf(c) === probe)) return true;
        probe = nextId++;
        await sql(dbUrl, `insert into todos values (${probe}, '${U2}', 'probe', 's')`);
        return false;
      },
      { timeoutMs: 10_000, intervalMs: 200, message: 'a row of the new user' },
    );
    const mine = nextId++;
    const u2 = nextId++;
    await sql(
      dbUrl,
      `insert into todos values (${mine}, '${U1}', 'u1 again', 's'), (${u2}, '${U2}', 'u2', 's')`,
    );
    await until(a.got, u2);
    expect(a.got.some((c) => idOf(c) === mine)).toBe(false);
  });

  it('a policy change takes effect without a restart', async () => {
    const b = await follow(userToken(U2), 'todos');
    const before = nextId++;
    const marker = nextId++;
    await sql(
      dbUrl,
      `insert into todos values (${before}, '${U1}', 'public', 's'), (${marker}, '${U2}', 'm', 's')`,
    );
    await until(b.got, marker);
    expect(b.got.map(idOf)).toEqual([marker]);
    await sql(dbUrl, `create policy titled on todos for select to authenticated using (title = 'public')`);
    try {
      await waitFor(
        async () => {
          const id = nextId++;
          await sql(dbUrl, `insert into todos values (${id}, '${U1}', 'public', 's')`);
          return b.got.some((c) => idOf(c) === id);
        },
        { timeoutMs: 10_000, intervalMs: 300, message: 'a row the new policy shows' },
      );
    } finally {
      await sql(dbUrl, 'drop policy titled on todos');
    }
  });
});

describe('resume (`since`) under row-level security', () => {
  it('replays only the rows and columns the user may see, then goes live', async () => {
    // The gateway has heard a position once a change went through it.
    const warm = await follow(userToken(U1), 'todos');
    const first = nextId++;
    await sql(dbUrl, `insert into todos values (${first}, '${U1}', 'before', 's')`);
    await until(warm.got, first);
    const a = await follow(userToken(U1), 'todos');
    const since = a.system.find((p) => p.status === 'ok')?.position;
    expect(since).toMatch(/^[0-9A-F]{16}-[0-9A-F]{8}$/);
    await disconnect(a.supabase.realtime);
    const mine = nextId++;
    const theirs = nextId++;
    const mineToo = nextId++;
    await sql(
      dbUrl,
      `insert into todos values (${mine}, '${U1}', 'm', 'secret1'), (${theirs}, '${U2}', 't', 'secret2')`,
      `insert into todos values (${mineToo}, '${U1}', 'm2', 'secret3')`,
    );
    const b = await follow(userToken(U1), 'todos', { since } as { filter?: string });
    await until(b.got, mineToo);
    const live = nextId++;
    await sql(dbUrl, `insert into todos values (${live}, '${U1}', 'live', 's')`);
    await until(b.got, live);
    expect(b.got.map(idOf)).toEqual([mine, mineToo, live]);
    for (const c of b.got) expect(c.new).not.toHaveProperty('secret');
  });
});
