// ChannelAuthorizer against a real PostgreSQL with Supabase's roles and auth helpers, and the
// reference's realtime.messages (created here; the ingester's migrations will own it): policies
// on `topic like 'ok:%'` as in the reference's private-channel tests, extensions told apart, a
// read-only user, claims, sub and headers in policies, a raising policy, unknown roles, quoting,
// a pool of 2 under 100 concurrent checks, timeouts and a stopped database.
import { createLogger } from '@walcast/logger';
import { sql, startBackends, SUPABASE_AUTH_SQL, type Backends } from '@walcast/test-utils';
import {
  ChannelAuthorizationError,
  ChannelAuthorizer,
  readRefusedReason,
  type ChannelAccess,
} from '../src/rls/channel-authorizer';
import { identityOf, type Identity } from '../src/rls/identity';
import { createRowAuthPool } from '../src/rls/pg-pool';
import type { ConnectionPool } from '../src/rls/queryable';

jest.setTimeout(60_000);

const log = createLogger({ service: 'gateway', level: 'silent', version: 'test' });
const USER_A = '11111111-1111-1111-1111-111111111111';
const USER_B = '22222222-2222-2222-2222-222222222222';

const REALTIME_SQL = [
  'create schema if not exists realtime',
  `create table realtime.messages (topic text not null, extension text not null, payload jsonb, binary_payload bytea,
    event text, private boolean default false, updated_at timestamp default now(), inserted_at timestamp default now(),
    id uuid default gen_random_uuid())`,
  'alter table realtime.messages enable row level security',
  'grant usage on schema realtime to anon, authenticated, service_role',
  'grant select, insert, update on realtime.messages to anon, authenticated, service_role',
  `create function realtime.topic() returns text language sql stable as $$ select nullif(current_setting('realtime.topic', true), '')::text $$`,
];

const POLICIES_SQL = [
  // ok:* readable by authenticated users for both extensions; writable only with can_write.
  `create policy ok_read on realtime.messages for select to authenticated using ((select realtime.topic()) like 'ok:%')`,
  `create policy ok_write on realtime.messages for insert to authenticated
     with check ((select realtime.topic()) like 'ok:%' and (select auth.jwt() ->> 'can_write') = 'yes')`,
  // bc:* readable for broadcast only.
  `create policy bc_read on realtime.messages for select to authenticated
     using ((select realtime.topic()) like 'bc:%' and realtime.messages.extension = 'broadcast')`,
  // team:<name> for members of the team (the reference's claims test).
  `create policy team_read on realtime.messages for select to authenticated
     using ((select auth.jwt() ->> 'team') = split_part((select realtime.topic()), ':', 2))`,
  // user:<uuid> for that user only (request.jwt.claim.sub through auth.uid()).
  `create policy user_read on realtime.messages for select to authenticated
     using ((select realtime.topic()) = 'user:' || (select auth.uid())::text)`,
  // hdr:* when the request carried the header x-tenant: acme.
  `create policy hdr_read on realtime.messages for select to authenticated
     using ((select realtime.topic()) like 'hdr:%'
            and current_setting('request.headers', true)::jsonb ->> 'x-tenant' = 'acme')`,
  // boom:* raises; slow:* sleeps.
  `create function public.boom() returns boolean language plpgsql stable as $$ begin raise exception 'boom'; end $$`,
  `create policy boom_read on realtime.messages for select to authenticated
     using (case when (select realtime.topic()) like 'boom:%' then public.boom() else false end)`,
  `create policy boom_write on realtime.messages for insert to authenticated
     with check (case when (select realtime.topic()) like 'boom:%' then public.boom() else false end)`,
  `create policy slow_read on realtime.messages for select to authenticated
     using (case when (select realtime.topic()) like 'slow:%' then pg_sleep(2) is not null else false end)`,
  // A login role that may not touch realtime.messages (the pool of a misconfigured gateway).
  'create role weak login',
];

let backends: Backends;
let pool: CountingPool;
let authorizer: ChannelAuthorizer;
const outcomes: string[] = [];

beforeAll(async () => {
  backends = await startBackends();
  await sql(backends.pg.url, ...SUPABASE_AUTH_SQL, ...REALTIME_SQL, ...POLICIES_SQL);
  pool = new CountingPool(poolFor(backends.pg.url, 5_000));
  authorizer = new ChannelAuthorizer({
    pool,
    timeoutMs: 5_000,
    log,
    onCheck: (check, outcome, seconds) => {
      expect(seconds).toBeGreaterThanOrEqual(0);
      outcomes.push(`${check}:${outcome}`);
    },
  });
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await backends?.stop();
});

function poolFor(url: string, checkTimeoutMs: number, poolSize = 2): ConnectionPool {
  return createRowAuthPool({ connection: { connectionString: url }, poolSize, checkTimeoutMs }, log);
}

/** A pool that counts checkouts, round trips and the most connections held at once. */
class CountingPool implements ConnectionPool {
  connects = 0;
  roundTrips = 0;
  held = 0;
  maxHeld = 0;
  constructor(private readonly inner: ConnectionPool) {}
  query: ConnectionPool['query'] = (text, values) => this.inner.query(text, values);
  async connect(): ReturnType<ConnectionPool['connect']> {
    this.connects++;
    const conn = await this.inner.connect();
    this.maxHeld = Math.max(this.maxHeld, ++this.held);
    return {
      prepared: conn.prepared,
      query: (text, values) => {
        this.roundTrips++;
        return conn.query(text, values);
      },
      queryMany: (text) => {
        this.roundTrips++;
        return conn.queryMany(text);
      },
      release: (err) => {
        this.held--;
        conn.release(err);
      },
    };
  }
  end(): Promise<void> {
    return this.inner.end();
  }
}

const as = (claims: Record<string, unknown>): Identity => {
  const identity = identityOf({ role: 'authenticated', ...claims });
  if ('error' in identity) throw new Error(identity.error);
  return identity;
};
const userA = as({ sub: USER_A });
const both = ['broadcast', 'presence'] as const;

async function leftBehind(): Promise<number> {
  const rows = await sql(backends.pg.url, 'select count(*)::int as n from realtime.messages');
  return rows[0]!['n'] as number;
}

describe('read: the probe-row method', () => {
  it('allows ok:* and refuses other topics', async () => {
    expect(await authorizer.read(userA, 'ok:1', both)).toEqual<ChannelAccess>({
      allowed: { broadcast: true, presence: true },
      refusal: null,
    });
    expect(await authorizer.read(userA, 'no:1', both)).toEqual<ChannelAccess>({
      allowed: { broadcast: false, presence: false },
      refusal: null,
    });
    expect(readRefusedReason('no:1')).toBe(
      'Unauthorized: You do not have permissions to read from this Channel topic: no:1',
    );
  });

  it('takes one round trip (reads and writes that pass)', async () => {
    const before = pool.roundTrips;
    await authorizer.read(userA, 'ok:trips', both);
    expect(pool.roundTrips - before).toBe(1);
    await authorizer.write(as({ can_write: 'yes' }), 'ok:trips', both);
    expect(pool.roundTrips - before).toBe(2);
  });

  it('tells broadcast from presence by the extension column', async () => {
    expect((await authorizer.read(userA, 'bc:1', both)).allowed).toEqual({
      broadcast: true,
      presence: false,
    });
    expect((await authorizer.read(userA, 'bc:1', ['presence'])).allowed).toEqual({ presence: false });
  });

  it('applies policies to their role only (anon has none)', async () => {
    const anon = identityOf({ role: 'anon' }) as Identity;
    expect((await authorizer.read(anon, 'ok:1', both)).allowed).toEqual({
      broadcast: false,
      presence: false,
    });
  });

  it('reads the claims: the team policy passes for the matching team only', async () => {
    expect((await authorizer.read(as({ team: 'red' }), 'team:red', ['broadcast'])).allowed.broadcast).toBe(
      true,
    );
    expect((await authorizer.read(as({ team: 'blue' }), 'team:red', ['broadcast'])).allowed.broadcast).toBe(
      false,
    );
    expect((await authorizer.read(as({}), 'team:red', ['broadcast'])).allowed.broadcast).toBe(false);
  });

  it('sets request.jwt.claim.sub, so auth.uid() names the user', async () => {
    expect((await authorizer.read(userA, `user:${USER_A}`, ['broadcast'])).allowed.broadcast).toBe(true);
    expect(
      (await authorizer.read(as({ sub: USER_B }), `user:${USER_A}`, ['broadcast'])).allowed.broadcast,
    ).toBe(false);
  });

  it('sets request.headers from the headers given', async () => {
    expect(
      (await authorizer.read(userA, 'hdr:1', ['broadcast'], { 'x-tenant': 'acme' })).allowed.broadcast,
    ).toBe(true);
    expect(
      (await authorizer.read(userA, 'hdr:1', ['broadcast'], { 'x-tenant': 'other' })).allowed.broadcast,
    ).toBe(false);
    expect((await authorizer.read(userA, 'hdr:1', ['broadcast'])).allowed.broadcast).toBe(false);
  });

  it('a raising policy answers false with a PolicyError for that check only', async () => {
    const raised = await authorizer.read(userA, 'boom:1', both);
    expect(raised.allowed).toEqual({ broadcast: false, presence: false });
    expect(raised.refusal).toEqual({ code: 'PolicyError', message: expect.stringMatching(/boom/) });
    const [boom, ok] = await Promise.all([
      authorizer.read(userA, 'boom:2', ['broadcast']),
      authorizer.read(userA, 'ok:2', ['broadcast']),
    ]);
    expect(boom.refusal?.code).toBe('PolicyError');
    expect(ok).toEqual({ allowed: { broadcast: true }, refusal: null });
  });

  it('leaves no probe row behind', async () => {
    await authorizer.read(userA, 'ok:left', both);
    await authorizer.read(userA, 'boom:left', both);
    expect(await leftBehind()).toBe(0);
  });
});

describe('write: an insert per extension', () => {
  it('a read-only user reads but may not write; a writer may', async () => {
    const reader = userA;
    const writer = as({ sub: USER_B, can_write: 'yes' });
    expect((await authorizer.read(reader, 'ok:1', both)).allowed).toEqual({
      broadcast: true,
      presence: true,
    });
    expect(await authorizer.write(reader, 'ok:1', both)).toEqual<ChannelAccess>({
      allowed: { broadcast: false, presence: false },
      refusal: null,
    });
    expect(await authorizer.write(writer, 'ok:1', both)).toEqual<ChannelAccess>({
      allowed: { broadcast: true, presence: true },
      refusal: null,
    });
    expect(await authorizer.write(writer, 'no:1', ['broadcast'])).toEqual<ChannelAccess>({
      allowed: { broadcast: false },
      refusal: null,
    });
  });

  it('a raising policy answers false with a PolicyError', async () => {
    const raised = await authorizer.write(userA, 'boom:1', ['broadcast']);
    expect(raised).toEqual({
      allowed: { broadcast: false },
      refusal: expect.objectContaining({ code: 'PolicyError' }),
    });
  });

  it('leaves no row behind', async () => {
    await authorizer.write(as({ can_write: 'yes' }), 'ok:written', both);
    expect(await leftBehind()).toBe(0);
  });
});

describe('roles and values are data, not SQL', () => {
  it('a role that does not exist is an InvalidRole refusal', async () => {
    const ghost = identityOf({ role: 'ghost"; drop table realtime.messages; --' }) as Identity;
    const read = await authorizer.read(ghost, 'ok:1', both);
    expect(read).toEqual({
      allowed: { broadcast: false, presence: false },
      refusal: { code: 'InvalidRole', message: expect.stringMatching(/is not a PostgreSQL role/) },
    });
    expect((await authorizer.write(ghost, 'ok:1', ['broadcast'])).refusal?.code).toBe('InvalidRole');
  });

  it('the role "none" is refused (it would mean the pool\'s own role)', async () => {
    const none = identityOf({ role: 'none' }) as Identity;
    const read = await authorizer.read(none, 'ok:1', ['broadcast']);
    expect(read).toEqual({
      allowed: { broadcast: false },
      refusal: expect.objectContaining({ code: 'InvalidRole' }),
    });
  });

  it('quotes in topics, claims and headers stay values', async () => {
    const topic = "ok:'); drop table realtime.messages; --\\";
    const odd = as({ sub: USER_A, note: 'it\'s \\ "quoted"' });
    expect((await authorizer.read(odd, topic, ['broadcast'], { "x-'": "'\\" })).allowed.broadcast).toBe(true);
    expect(await leftBehind()).toBe(0);
  });

  it('a value PostgreSQL cannot receive is an InvalidValue refusal', async () => {
    expect((await authorizer.read(userA, 'ok:\u0000', ['broadcast'])).refusal?.code).toBe('InvalidValue');
  });

  it('a pool role that cannot insert probes is RealtimeMessagesUnusable', async () => {
    const url = new URL(backends.pg.url);
    url.username = 'weak';
    const weakPool = poolFor(url.toString(), 5_000);
    try {
      const weak = new ChannelAuthorizer({ pool: weakPool, timeoutMs: 5_000, log });
      await expect(weak.read(userA, 'ok:1', ['broadcast'])).rejects.toMatchObject({
        name: 'ChannelAuthorizationError',
        code: 'RealtimeMessagesUnusable',
      });
    } finally {
      await weakPool.end();
    }
  });
});

describe('concurrency', () => {
  it('answers 100 concurrent checks with a pool of 2, never holding more than 2 connections', async () => {
    pool.maxHeld = 0;
    const topics = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? `ok:${i}` : `no:${i}`));
    const answers = await Promise.all(topics.map((t) => authorizer.read(userA, t, both)));
    answers.forEach((a, i) => expect(a.allowed.broadcast).toBe(i % 2 === 0));
    expect(pool.maxHeld).toBeLessThanOrEqual(2);
    expect(await leftBehind()).toBe(0);
  });

  it('identical concurrent questions share one query', async () => {
    const before = pool.connects;
    outcomes.length = 0;
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        authorizer.read(as({ sub: USER_A }), 'ok:same', ['presence', 'broadcast']),
      ),
    );
    expect(pool.connects - before).toBe(1);
    expect(outcomes).toEqual(['read:allowed']);
    for (const a of answers) expect(a.allowed).toEqual({ broadcast: true, presence: true });
    // A different question is not coalesced with it.
    const [x, y] = await Promise.all([
      authorizer.read(userA, 'ok:same', ['broadcast']),
      authorizer.write(userA, 'ok:same', ['broadcast']),
    ]);
    expect([x.allowed.broadcast, y.allowed.broadcast]).toEqual([true, false]);
  });
});

describe('when the database does not answer', () => {
  it('a check over the timeout rejects with RowAuthorizationUnavailable', async () => {
    const shortPool = poolFor(backends.pg.url, 300);
    try {
      const seen: string[] = [];
      const hasty = new ChannelAuthorizer({
        pool: shortPool,
        timeoutMs: 300,
        log,
        onCheck: (check, outcome) => seen.push(`${check}:${outcome}`),
      });
      const started = Date.now();
      const err = await hasty.read(userA, 'slow:1', ['broadcast']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChannelAuthorizationError);
      expect(err).toMatchObject({ code: 'RowAuthorizationUnavailable' });
      expect(Date.now() - started).toBeLessThan(1_500);
      expect(seen).toEqual(['read:unavailable']);
      // The connection that timed out is not reused in a bad state.
      expect((await hasty.read(userA, 'ok:1', ['broadcast'])).allowed.broadcast).toBe(true);
    } finally {
      await shortPool.end();
    }
  });

  it('a stopped database rejects fast with RowAuthorizationUnavailable; checks work again once it is back', async () => {
    await authorizer.read(userA, 'ok:warm', ['broadcast']); // pooled connections exist
    await backends.pg.stop();
    try {
      const started = Date.now();
      const errors = await Promise.all(
        ['ok:down1', 'ok:down2', 'ok:down3'].map((t) =>
          authorizer.read(userA, t, ['broadcast']).catch((e: unknown) => e),
        ),
      );
      for (const err of errors) {
        expect(err).toBeInstanceOf(ChannelAuthorizationError);
        expect(err).toMatchObject({
          code: 'RowAuthorizationUnavailable',
          message: expect.stringMatching(/retry/),
        });
      }
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await backends.pg.start();
    }
    expect((await authorizer.read(userA, 'ok:back', ['broadcast'])).allowed.broadcast).toBe(true);
  });
});
