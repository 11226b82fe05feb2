/**
 * Presence on private channels, end to end: supabase-js 2.119.1 clients on two gateways
 * (SECURE_CHANNELS, row authorization's database) and policies on realtime.messages as an
 * application writes them, telling presence from broadcast by `extension` and users by a JWT claim:
 * `presence: 'write'` may track and read presence, `presence: 'read'` may read it, anyone may read
 * broadcasts of `ok:%` topics. A third gateway runs with PRIVATE_ONLY.
 *
 * "Nothing arrived" is shown with a later diff or message on the same topic that did arrive (one
 * topic's diffs and broadcasts keep their order; see support/presence-client.ts).
 */
import { randomUUID } from 'node:crypto';
import { REALTIME_SUBSCRIBE_STATES } from '@supabase/realtime-js';
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
import { PresenceChannel, type PresenceOptions } from './support/presence-client';

jest.setTimeout(60_000);

const SECRET = 'presence-private-test-secret-with-at-least-32-chars';
const ANON_KEY = signHs256({ role: 'anon' }, SECRET);
const userToken = (claims: Record<string, unknown> = {}): string =>
  signHs256({ role: 'authenticated', sub: randomUUID(), ...claims }, SECRET);
const PRIVATE_ONLY_GATEWAY = 2;

const POLICIES = [
  `create policy read_broadcast on realtime.messages for select to authenticated
     using (realtime.topic() like 'ok:%' and extension = 'broadcast')`,
  `create policy read_presence on realtime.messages for select to authenticated
     using (realtime.topic() like 'ok:%' and extension = 'presence'
            and (select auth.jwt() ->> 'presence') in ('read', 'write'))`,
  `create policy write_presence on realtime.messages for insert to authenticated
     with check (realtime.topic() like 'ok:%' and extension = 'presence'
                 and (select auth.jwt() ->> 'presence') = 'write')`,
  `create policy write_broadcast on realtime.messages for insert to authenticated
     with check (realtime.topic() like 'ok:%' and extension = 'broadcast'
                 and (select auth.jwt() ->> 'presence') = 'write')`,
];

let backends: Backends;
let stack: WalcastStack;
const open: PresenceChannel[] = [];

beforeAll(async () => {
  backends = await startBackends();
  await sql(backends.pg.url, ...SUPABASE_AUTH_SQL, 'create publication supabase_realtime for all tables');
  stack = await WalcastStack.start(backends, {
    gateways: 2,
    gatewayEnv: { SECURE_CHANNELS: 'true', JWT_SECRET: SECRET },
  });
  // The ingester made the realtime schema before it reported ready.
  await sql(backends.pg.url, ...POLICIES);
  stack.gatewayPorts.push(await freePort());
  await stack.startGateway(PRIVATE_ONLY_GATEWAY, { PRIVATE_ONLY: 'true' });
}, 120_000);

afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
}, 30_000);

type Role = 'write' | 'read' | 'none';

/** A supabase-js client of a user with presence permission `role`, on channel `name`. */
function user(role: Role, gateway: number, name: string, opts: PresenceOptions = {}): PresenceChannel {
  const token = userToken(role === 'none' ? {} : { presence: role });
  const c = new PresenceChannel(stack.gatewayPorts[gateway]!, name, {
    private: true,
    apiKey: ANON_KEY,
    token,
    ...opts,
  });
  open.push(c);
  return c;
}

describe('presence on private channels', () => {
  it('a user with presence read and write tracks; readers on both gateways see it; without write, track() resolves error', async () => {
    const topic = `ok:${randomUUID()}`;
    const reader = await user('read', 1, topic, { key: 'reader' }).synced();
    const writer = await user('write', 0, topic, { key: 'writer' }).synced();
    expect(await writer.track({ u: 'w' })).toBe('ok');
    for (const c of [reader, writer]) {
      await c.waitForJoin('writer', 'w');
      await c.waitForSummary({ writer: ['w'] });
    }

    expect(await reader.track({ u: 'r' })).toBe('error');
    expect(reader.received('phx_reply')).toContainEqual({ status: 'error', response: {} });
    // A later change of the writer's arrives; the refused track never did.
    expect(await writer.track({ u: 'w2' })).toBe('ok');
    await reader.waitForJoin('writer', 'w2');
    expect(reader.summary()).toEqual({ writer: ['w2'] });
    expect(reader.diffs().flatMap((d) => Object.keys(d.joins))).toEqual(['writer', 'writer']);
  });

  it('a user with broadcast read but no presence read joins, and gets neither presence_state nor diffs', async () => {
    const topic = `ok:${randomUUID()}`;
    const writer = await user('write', 0, topic, { key: 'writer' }).synced();
    const reader = await user('read', 1, topic, { key: 'reader' }).synced();
    const plain = await user('none', 1, topic, { key: 'plain' }).ready(); // broadcast read suffices
    expect(await writer.track({ u: 'w' })).toBe('ok');
    await reader.waitForJoin('writer', 'w');
    // A broadcast on the topic sent after the track: once it has arrived, the diff would have too.
    // (Without ack no reply comes; a 1 ms push timeout keeps realtime-js from holding jest open.)
    await writer.channel.send({ type: 'broadcast', event: 'after-track', payload: {} }, { timeout: 1 });
    await waitFor(() => plain.broadcasts.includes('after-track'), {
      timeoutMs: 10_000,
      message: 'the broadcast',
    });
    expect(plain.states()).toEqual([]);
    expect(plain.diffs()).toEqual([]);
    expect(plain.events).toEqual([]);
    expect(plain.summary()).toEqual({});
  });

  it('public and private channels of the same name do not share presence', async () => {
    const name = `ok:${randomUUID()}`;
    const privReader = await user('read', 1, name, { key: 'priv-reader' }).synced();
    const pubReader = await user('none', 1, name, { key: 'pub-reader', private: false }).synced();
    const privWriter = await user('write', 0, name, { key: 'priv' }).synced();
    const pubWriter = await user('none', 0, name, { key: 'pub', private: false }).synced();
    expect(await privWriter.track({ u: 'private' })).toBe('ok');
    await privReader.waitForJoin('priv', 'private');
    expect(await pubWriter.track({ u: 'public' })).toBe('ok');
    await pubReader.waitForJoin('pub', 'public');
    // Markers after both: a change on each side, seen on its own side.
    expect(await privWriter.track({ u: 'private2' })).toBe('ok');
    expect(await pubWriter.track({ u: 'public2' })).toBe('ok');
    await privReader.waitForJoin('priv', 'private2');
    await pubReader.waitForJoin('pub', 'public2');
    expect(privReader.summary()).toEqual({ priv: ['private2'] });
    expect(pubReader.summary()).toEqual({ pub: ['public2'] });

    // Newcomers read each side's state from Redis.
    const lateb = await user('read', 0, name, { key: 'late-priv' }).synced();
    const latep = await user('none', 1, name, { key: 'late-pub', private: false }).synced();
    expect(lateb.summary()).toEqual({ priv: ['private2'] });
    expect(latep.summary()).toEqual({ pub: ['public2'] });
  });
});

describe('presence with row authorization', () => {
  it('a channel that also has postgres_changes bindings gets its presence_state, every join', async () => {
    // Its bindings are checked against the database at join; the state used to be read meanwhile,
    // found no membership yet, and was dropped: realtime-js then never fired `sync`.
    await sql(backends.pg.url, 'create table if not exists public.presence_rows (id int primary key)');
    const topic = `rows:${randomUUID()}`;
    const writer = await user('write', 0, topic, { private: false, key: 'writer' }).synced();
    expect(await writer.track({ u: 'w' })).toBe('ok');
    for (let i = 0; i < 3; i++) {
      const reader = await user('none', i % 2, topic, {
        private: false,
        key: `reader-${i}`,
        postgresChanges: [{ schema: 'public', table: 'presence_rows' }],
      }).synced();
      expect(reader.summary()).toEqual({ writer: ['w'] });
      expect(reader.received('presence_state')).toHaveLength(1);
    }
  });
});

describe('PRIVATE_ONLY', () => {
  it('refuses a public join with the reference reason; a private join is served', async () => {
    const name = `ok:${randomUUID()}`;
    const pub = user('write', PRIVATE_ONLY_GATEWAY, name, { private: false });
    await pub.subscribe();
    const refused = await pub.waitForStatus(REALTIME_SUBSCRIBE_STATES.CHANNEL_ERROR);
    expect(refused.err?.message).toBe('PrivateOnly: This project only allows private channels');
    expect(pub.received('phx_reply')).toContainEqual({
      status: 'error',
      response: { reason: 'PrivateOnly: This project only allows private channels' },
    });

    const priv = await user('write', PRIVATE_ONLY_GATEWAY, name, { key: 'p' }).synced();
    expect(await priv.track({ u: 'p' })).toBe('ok');
    await priv.waitForJoin('p', 'p');
  });
});
