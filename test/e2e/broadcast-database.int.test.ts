/**
 * Private channels and broadcasts sent from the database, end to end: supabase-js 2 clients on two
 * gateways (SECURE_CHANNELS, row authorization's database), the ingester's managed `realtime`
 * schema, and policies on realtime.messages as an application writes them (on `topic like 'ok:%'`).
 *
 * "Nothing arrived" is shown with a positive marker instead of a sleep: a later message on the same
 * topic from the same sender (per sender and topic, messages keep their order).
 */
import { randomUUID } from 'node:crypto';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { RealtimeChannel } from '@supabase/realtime-js';
import {
  PhoenixTestClient,
  SUPABASE_AUTH_SQL,
  WalcastStack,
  sql,
  startBackends,
  waitFor,
  type Backends,
} from '@walcast/test-utils';
import { signHs256 } from './support/jwt';
import { Transport, disconnect } from './support/modern-client';

jest.setTimeout(60_000);

const SECRET = 'broadcast-db-test-secret-with-at-least-32-chars';
const ANON_KEY = signHs256({ role: 'anon' }, SECRET);
const userToken = (claims: Record<string, unknown> = {}): string =>
  signHs256({ role: 'authenticated', sub: randomUUID(), ...claims }, SECRET);

const POLICIES = [
  `create policy read_ok on realtime.messages for select to authenticated
     using (realtime.topic() like 'ok:%')`,
  `create policy write_ok on realtime.messages for insert to authenticated
     with check (realtime.topic() like 'ok:%' and (select auth.jwt() ->> 'writer') = 'yes')`,
  'create table items (id int primary key, name text)',
  'alter table items replica identity full',
  `create function items_broadcast() returns trigger language plpgsql security definer as $$
   begin
     perform realtime.broadcast_changes('ok:items', tg_op, tg_op, tg_table_name, tg_table_schema, new, old);
     return null;
   end $$`,
  `create trigger items_broadcast after insert or update or delete on items
     for each row execute function items_broadcast()`,
];

let backends: Backends;
let stack: WalcastStack;
let dbUrl: string;
const open: Array<() => Promise<void>> = [];

beforeAll(async () => {
  backends = await startBackends();
  dbUrl = backends.pg.url;
  await sql(dbUrl, ...SUPABASE_AUTH_SQL, 'create publication supabase_realtime for all tables');
  stack = await WalcastStack.start(backends, {
    gateways: 2,
    gatewayEnv: { SECURE_CHANNELS: 'true', JWT_SECRET: SECRET },
  });
  // The ingester made the realtime schema before it reported ready.
  await sql(dbUrl, ...POLICIES);
}, 120_000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((close) => close()));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
}, 30_000);

interface Received {
  event: string;
  payload: Record<string, unknown>;
  meta?: { id?: string; replayed?: boolean; position?: string };
}

interface Joined {
  supabase: SupabaseClient;
  channel: RealtimeChannel;
  got: Received[];
  system: Array<Record<string, unknown>>;
  statuses: Array<{ status: string; message?: string }>;
}

/** A supabase-js client of `token` on gateway `gateway`, joining `topic` and recording broadcasts. */
async function join(
  token: string,
  topic: string,
  opts: {
    private?: boolean;
    gateway?: number;
    replay?: { since: number; limit?: number };
    ack?: boolean;
    wait?: boolean;
  } = {},
): Promise<Joined> {
  const supabase = createClient(`http://127.0.0.1:${stack.gatewayPorts[opts.gateway ?? 0]}`, ANON_KEY, {
    realtime: { transport: Transport, timeout: 2_000 },
  });
  open.push(() => disconnect(supabase.realtime));
  await supabase.realtime.setAuth(token);
  const got: Received[] = [];
  const system: Array<Record<string, unknown>> = [];
  const statuses: Joined['statuses'] = [];
  const channel = supabase
    .channel(topic, {
      config: {
        private: opts.private ?? true,
        broadcast: { ack: opts.ack ?? false, ...(opts.replay ? { replay: opts.replay } : {}) },
      },
    })
    .on('broadcast', { event: '*' }, (p: Received) => got.push(p))
    .on('system', {}, (p: Record<string, unknown>) => system.push(p))
    .subscribe((status, err) => statuses.push(err ? { status, message: err.message } : { status }));
  if (opts.wait ?? true) {
    await waitFor(() => statuses.some((s) => s.status === 'SUBSCRIBED'), {
      timeoutMs: 10_000,
      message: `${topic} subscribed; got ${JSON.stringify(statuses)}`,
    });
  }
  return { supabase, channel, got, system, statuses };
}

async function until(got: Received[], test: (r: Received) => boolean, what: string): Promise<Received> {
  return waitFor(() => got.find(test), { timeoutMs: 10_000, message: `${what}; got ${JSON.stringify(got)}` });
}

const send = (payload: Record<string, unknown>, event: string, topic: string, isPrivate = true) =>
  sql(
    dbUrl,
    `select realtime.send('${JSON.stringify(payload)}'::jsonb, '${event}', '${topic}', ${isPrivate})`,
  );

describe('private channels', () => {
  it('join a topic the policies allow; refused with the reference reason otherwise', async () => {
    await join(userToken(), 'ok:1');
    const refused = await join(userToken(), 'no:1', { wait: false });
    const error = await waitFor(() => refused.statuses.find((s) => s.status === 'CHANNEL_ERROR'), {
      timeoutMs: 10_000,
      message: 'CHANNEL_ERROR',
    });
    expect(error.message).toBe(
      'Unauthorized: You do not have permissions to read from this Channel topic: no:1',
    );
  });

  it('a read-only user’s broadcast is dropped (ack times out); a writer’s reaches every reader on both gateways', async () => {
    const topic = `ok:${randomUUID()}`;
    const reader = await join(userToken(), topic, { ack: true });
    const other = await join(userToken(), topic, { gateway: 1 });
    const writer = await join(userToken({ writer: 'yes' }), topic, { ack: true, gateway: 1 });
    expect(await reader.channel.send({ type: 'broadcast', event: 'm', payload: { from: 'reader' } })).toBe(
      'timed out',
    );
    expect(await writer.channel.send({ type: 'broadcast', event: 'm', payload: { from: 'writer' } })).toBe(
      'ok',
    );
    for (const r of [reader, other])
      await until(r.got, (m) => m.payload.from === 'writer', 'the writer’s message');
    expect(other.got.map((m) => m.payload.from)).toEqual(['writer']);
  });

  it('public and private channels of the same name never see each other’s messages', async () => {
    const name = `ok:${randomUUID()}`;
    const priv = await join(userToken(), name);
    const pub = await join(userToken(), name, { private: false, gateway: 1 });
    await send({ n: 1 }, 'e', name, true);
    await send({ n: 2 }, 'e', name, false);
    await send({ n: 3 }, 'e', name, true);
    await until(priv.got, (m) => m.payload.n === 3, 'private marker');
    await until(pub.got, (m) => m.payload.n === 2, 'public message');
    expect(priv.got.map((m) => m.payload.n)).toEqual([1, 3]);
    await send({ n: 4 }, 'e', name, false);
    await until(pub.got, (m) => m.payload.n === 4, 'public marker');
    expect(pub.got.map((m) => m.payload.n)).toEqual([2, 4]);
  });

  it('setAuth to a token that may no longer read closes the channel with the reference message', async () => {
    const topic = `ok:${randomUUID()}`;
    const a = await join(userToken(), topic);
    await a.supabase.realtime.setAuth(signHs256({ role: 'anon', sub: randomUUID() }, SECRET));
    const msg = await waitFor(() => a.system.find((p) => p.status === 'error'), {
      timeoutMs: 10_000,
      message: 'system error',
    });
    expect(msg.message).toBe(`You no longer have permission to read from this Channel topic: ${topic}`);
    await waitFor(() => a.channel.state === 'closed', { timeoutMs: 10_000, message: 'channel closed' });
  });
});

describe('private messages over REST', () => {
  const post = (token: string, body: unknown): Promise<Response> =>
    fetch(`http://127.0.0.1:${stack.gatewayPorts[1]}/api/broadcast`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('a writer’s private message is delivered; a reader’s is dropped with 202 all the same', async () => {
    const topic = `ok:${randomUUID()}`;
    const s = await join(userToken(), topic);
    const message = (n: number) => ({ messages: [{ topic, event: 'e', payload: { n }, private: true }] });
    expect((await post(userToken(), message(1))).status).toBe(202);
    expect((await post(userToken({ writer: 'yes' }), message(2))).status).toBe(202);
    await until(s.got, (m) => m.payload.n === 2, 'the writer’s message');
    expect(s.got.map((m) => m.payload.n)).toEqual([2]);
  });
});

describe('broadcasts sent from the database', () => {
  it('realtime.send reaches authorized private subscribers on both gateways with payload.id = meta.id', async () => {
    const topic = `ok:${randomUUID()}`;
    const subs = [await join(userToken(), topic), await join(userToken(), topic, { gateway: 1 })];
    await send({ a: 1 }, 'greet', topic);
    for (const s of subs) {
      const m = await until(s.got, (r) => r.event === 'greet', 'the message');
      expect(m.payload.a).toBe(1);
      expect(typeof m.payload.id).toBe('string');
      expect(m.meta?.id).toBe(m.payload.id);
      expect(m.meta?.position).toMatch(/^[0-9A-F]{16}-[0-9A-F]{8}$/);
    }
  });

  it('broadcast_changes in a trigger gives the INSERT, UPDATE and DELETE shapes', async () => {
    const s = await join(userToken(), 'ok:items', { gateway: 1 });
    await sql(
      dbUrl,
      `insert into items values (1, 'a')`,
      `update items set name = 'b' where id = 1`,
      'delete from items where id = 1',
    );
    await until(s.got, (m) => m.event === 'DELETE', 'the DELETE');
    const byOp = Object.fromEntries(s.got.map((m) => [m.event, m.payload]));
    expect(byOp.INSERT).toMatchObject({
      operation: 'INSERT',
      table: 'items',
      schema: 'public',
      record: { id: 1, name: 'a' },
      old_record: null,
    });
    expect(byOp.UPDATE).toMatchObject({
      operation: 'UPDATE',
      record: { id: 1, name: 'b' },
      old_record: { id: 1, name: 'a' },
    });
    expect(byOp.DELETE).toMatchObject({
      operation: 'DELETE',
      record: null,
      old_record: { id: 1, name: 'b' },
    });
    expect(s.got.map((m) => m.event)).toEqual(['INSERT', 'UPDATE', 'DELETE']);
  });

  it('replay: messages sent before the join arrive first, oldest first, marked replayed, without live duplicates', async () => {
    const topic = `ok:${randomUUID()}`;
    const t0 = Date.now() - 1_000;
    await sql(
      dbUrl,
      'begin',
      ...[1, 2, 3].map((n) => `select realtime.send('{"n":${n}}'::jsonb, 'e', '${topic}', true)`),
      'commit',
    );
    const s = await join(userToken(), topic, { replay: { since: t0 } });
    await send({ n: 4 }, 'e', topic);
    await until(s.got, (m) => m.payload.n === 4, 'the live message');
    expect(s.got.map((m) => m.payload.n)).toEqual([1, 2, 3, 4]);
    expect(s.got.slice(0, 3).every((m) => m.meta?.replayed === true)).toBe(true);
    expect(s.got[3]!.meta?.replayed).toBeUndefined();
    expect(s.got.slice(0, 3).map((m) => m.meta?.id)).toEqual(s.got.slice(0, 3).map((m) => m.payload.id));
  });

  it('replay takes at most `limit` of the newest', async () => {
    const topic = `ok:${randomUUID()}`;
    const t0 = Date.now() - 1_000;
    for (const n of [1, 2, 3, 4]) await send({ n }, 'e', topic);
    const s = await join(userToken(), topic, { replay: { since: t0, limit: 2 } });
    await send({ n: 5 }, 'e', topic);
    await until(s.got, (m) => m.payload.n === 5, 'the live message');
    expect(s.got.map((m) => m.payload.n)).toEqual([3, 4, 5]);
  });

  it('replay on a public channel is refused by the server too (realtime-js refuses it itself)', async () => {
    const url = `ws://127.0.0.1:${stack.gatewayPorts[0]}/socket/websocket?apikey=${ANON_KEY}`;
    const client = await PhoenixTestClient.connect(url, { vsn: '2.0.0' });
    open.push(() => client.close().then(() => undefined));
    const reply = await client.join(`realtime:ok:${randomUUID()}`, {
      config: { private: false, broadcast: { replay: { since: 0 } } },
      access_token: userToken(),
    });
    expect(reply.payload).toEqual({
      status: 'error',
      response: { reason: 'UnableToReplayMessages: Replay is not allowed for public channels' },
    });
  });
});
