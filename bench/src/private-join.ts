/**
 * Private-channel join latency (`BENCH=private-join`): one gateway with SECURE_CHANNELS, JWT_SECRET
 * and DATABASE_URL, `realtime.messages` created by the ingester's own migrations, and the policy
 * Supabase's Realtime Authorization guide builds on, a room-membership lookup:
 *
 *   for select to authenticated using (exists (select 1 from public.rooms_users
 *     where user_id = (select auth.uid()) and topic = (select realtime.topic())
 *     and realtime.messages.extension in ('broadcast', 'presence')))
 *
 * over 100 users × 1,000 rooms (100,000 memberships). Every private join is one probe transaction
 * (insert a probe row, set the JWT context, select it back, roll back). Joins use realtime-js's
 * default config (broadcast, presence off), a topic `room-<n>` each, and are left again at once.
 *
 * Baseline, same run, same socket and topics: the public join (`private: false`), so the ratio is
 * the cost of the policy check. Two loads, 3 repetitions each:
 * - sequential: one socket alternates private and public joins (PRIVATE_JOINS of each per
 *   repetition, default 500); p50/p99 of phx_join → phx_reply;
 * - concurrent: PRIVATE_JOIN_SOCKETS sockets (default 20) each join in turn, all private, then all
 *   public (1,000 joins each); joins/s and p99 (the gateway's pool has RLS_POOL_SIZE=4 connections).
 */
import { createHmac, randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { LocalPostgres, LocalRedis } from '@walcast/local-services';
import { SUPABASE_AUTH_SQL, sql } from '@walcast/test-utils';
import { GRANTS_SQL, MIGRATIONS } from '../../services/ingester/dist/schema/migrations';
import { startGateway } from './servers';
import { epochMs, median, type ResultRow } from './util';

const USERS = 100;
const ROOMS = 1000;
const JOINS = Number(process.env['PRIVATE_JOINS'] ?? '500');
const SOCKETS = Number(process.env['PRIVATE_JOIN_SOCKETS'] ?? '20');
const CONCURRENT_JOINS = 1000;
const REPEATS = 3;
const SECRET = 'bench-private-join-secret-with-at-least-32-chars';
const TIMEOUT_MS = 10_000;

const SCHEMA = [
  ...SUPABASE_AUTH_SQL,
  'create schema if not exists realtime',
  ...MIGRATIONS.map((m) => m.sql),
  GRANTS_SQL,
  'create table public.rooms_users (user_id uuid not null, topic text not null, primary key (user_id, topic))',
  'grant select on public.rooms_users to authenticated',
  `create policy "room members read" on realtime.messages for select to authenticated
     using (exists (select 1 from public.rooms_users
       where user_id = (select auth.uid()) and topic = (select realtime.topic())
         and realtime.messages.extension in ('broadcast', 'presence')))`,
];

function jwt(claims: Record<string, unknown>): string {
  const b64 = (v: string | Buffer): string => Buffer.from(v).toString('base64url');
  const body = { exp: Math.floor(Date.now() / 1000) + 3600, ...claims };
  const unsigned = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(body))}`;
  return `${unsigned}.${b64(createHmac('sha256', SECRET).update(unsigned).digest())}`;
}

/** The exact `p`-th percentile (0 < p ≤ 100) of `values`, nearest rank. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** One socket of one user, joining and leaving rooms one at a time. */
class Joiner {
  private ref = 0;
  private readonly waiting = new Map<string, (payload: { status: string; response: unknown }) => void>();

  private constructor(
    private readonly ws: WebSocket,
    private readonly token: string,
  ) {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as { event: string; ref: string | null; payload: never };
      if (msg.event !== 'phx_reply' || msg.ref === null) return;
      this.waiting.get(msg.ref)?.(msg.payload);
      this.waiting.delete(msg.ref);
    });
  }

  static open(url: string, user: string): Promise<Joiner> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('error', reject);
      ws.once('open', () => resolve(new Joiner(ws, jwt({ role: 'authenticated', sub: user }))));
    });
  }

  private request(topic: string, event: string, payload: unknown, joinRef: string) {
    const ref = String(++this.ref);
    return new Promise<{ status: string; response: unknown }>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`private-join: no reply to ${event} ${topic}`)),
        TIMEOUT_MS,
      );
      this.waiting.set(ref, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      this.ws.send(JSON.stringify({ topic, event, payload, ref, join_ref: joinRef }));
    });
  }

  /** Joins `realtime:<room>` (ms from phx_join to its ok reply), then leaves it (not timed). */
  async joinAndLeave(room: string, isPrivate: boolean): Promise<number> {
    const topic = `realtime:${room}`;
    const joinRef = String(this.ref + 1);
    const config = {
      broadcast: { ack: false, self: false },
      presence: { key: '', enabled: false },
      postgres_changes: [],
      private: isPrivate,
    };
    const t0 = epochMs();
    const reply = await this.request(topic, 'phx_join', { config, access_token: this.token }, joinRef);
    const ms = epochMs() - t0;
    if (reply.status !== 'ok')
      throw new Error(`private-join: ${topic} refused: ${JSON.stringify(reply.response)}`);
    await this.request(topic, 'phx_leave', {}, joinRef);
    return ms;
  }

  close(): void {
    this.ws.terminate();
  }
}

interface Sample {
  p50: number;
  p99: number;
  perS: number;
}

function sample(latencies: number[], wallMs: number): Sample {
  return {
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    perS: latencies.length / (wallMs / 1000),
  };
}

/** One socket, alternating private and public joins of the same rooms. */
async function sequentialRep(joiner: Joiner, first: number): Promise<{ priv: Sample; pub: Sample }> {
  const priv: number[] = [];
  const pub: number[] = [];
  let privMs = 0;
  let pubMs = 0;
  for (let i = 0; i < JOINS; i++) {
    const room = `room-${(first + i) % ROOMS}`;
    const a = await joiner.joinAndLeave(room, true);
    const b = await joiner.joinAndLeave(room, false);
    priv.push(a);
    pub.push(b);
    privMs += a;
    pubMs += b;
  }
  return { priv: sample(priv, privMs), pub: sample(pub, pubMs) };
}

/** Every joiner joins its share of CONCURRENT_JOINS rooms in turn, all at the same time. */
async function concurrentRep(joiners: Joiner[], isPrivate: boolean, first: number): Promise<Sample> {
  const latencies: number[] = [];
  const per = Math.ceil(CONCURRENT_JOINS / joiners.length);
  const t0 = epochMs();
  await Promise.all(
    joiners.map(async (joiner, k) => {
      for (let i = 0; i < per; i++)
        latencies.push(await joiner.joinAndLeave(`room-${(first + k * per + i) % ROOMS}`, isPrivate));
    }),
  );
  return sample(latencies, epochMs() - t0);
}

function rows(
  seq: Array<{ priv: Sample; pub: Sample }>,
  conc: Array<{ priv: Sample; pub: Sample }>,
): ResultRow[] {
  const baselineName = 'public join (private: false), same run, same socket and topics';
  const label = 'private-channel join, policy: room membership (100,000 rows)';
  const row = (
    what: string,
    unit: string,
    reps: Array<{ priv: Sample; pub: Sample }>,
    f: (s: Sample) => number,
    extra: Partial<ResultRow> = {},
  ): ResultRow => {
    const samples = reps.map((r) => f(r.priv));
    const baselineSamples = reps.map((r) => f(r.pub));
    return {
      benchmark: `${label}, ${what}`,
      unit,
      figure: median(samples),
      baselineName,
      baseline: median(baselineSamples),
      samples,
      baselineSamples,
      ...extra,
    };
  };
  const ms = { better: 'lower' as const, digits: 1 };
  return [
    row(`1 socket, ${JOINS} joins per rep: p50`, 'ms', seq, (s) => s.p50, ms),
    row(`1 socket, ${JOINS} joins per rep: p99`, 'ms', seq, (s) => s.p99, ms),
    row(`${SOCKETS} sockets at once, ${CONCURRENT_JOINS} joins per rep`, 'joins/s', conc, (s) => s.perS),
    row(`${SOCKETS} sockets at once: p99`, 'ms', conc, (s) => s.p99, ms),
  ];
}

export async function benchPrivateJoin(): Promise<ResultRow[]> {
  const pg = await LocalPostgres.start();
  const redis = await LocalRedis.start();
  const joiners: Joiner[] = [];
  try {
    await sql(pg.url, ...SCHEMA);
    const users = Array.from({ length: USERS }, () => randomUUID());
    await sql(
      pg.url,
      `insert into public.rooms_users select u::uuid, 'room-' || r
         from unnest(array[${users.map((u) => `'${u}'`).join(',')}]) u, generate_series(0, ${ROOMS - 1}) r`,
      'analyze public.rooms_users',
    );
    const server = await startGateway(redis.url, [], {
      SECURE_CHANNELS: 'true',
      JWT_SECRET: SECRET,
      DATABASE_URL: pg.url,
      MAX_JOINS_PER_SECOND: '1000000',
    });
    try {
      const url = `${server.url}&apikey=${jwt({ role: 'anon' })}`;
      for (let k = 0; k < SOCKETS; k++) joiners.push(await Joiner.open(url, users[k % USERS]!));
      const one = joiners[0]!;
      // The policy decides: a room the user is not a member of is refused.
      const refused = await one.joinAndLeave('not-a-room', true).then(
        () => false,
        (err: unknown) => String(err).includes('Unauthorized'),
      );
      if (!refused) throw new Error('private-join: a non-member joined a private room');
      await sequentialRep(one, 0); // warm-up: connections, JIT, plans
      await concurrentRep(joiners, true, 0);
      await concurrentRep(joiners, false, 0);
      const seq: Array<{ priv: Sample; pub: Sample }> = [];
      const conc: Array<{ priv: Sample; pub: Sample }> = [];
      for (let rep = 0; rep < REPEATS; rep++) {
        const r = await sequentialRep(one, (rep + 1) * JOINS);
        seq.push(r);
        console.log(
          `  sequential #${rep + 1}: private p50 ${r.priv.p50.toFixed(2)} / p99 ${r.priv.p99.toFixed(2)} ms; ` +
            `public p50 ${r.pub.p50.toFixed(2)} / p99 ${r.pub.p99.toFixed(2)} ms`,
        );
      }
      for (let rep = 0; rep < REPEATS; rep++) {
        const priv = await concurrentRep(joiners, true, rep * CONCURRENT_JOINS);
        const pub = await concurrentRep(joiners, false, rep * CONCURRENT_JOINS);
        conc.push({ priv, pub });
        console.log(
          `  ${SOCKETS} sockets #${rep + 1}: private ${Math.round(priv.perS)} joins/s, p50 ${priv.p50.toFixed(1)} / ` +
            `p99 ${priv.p99.toFixed(1)} ms; public ${Math.round(pub.perS)} joins/s, p50 ${pub.p50.toFixed(1)} / p99 ${pub.p99.toFixed(1)} ms`,
        );
      }
      return rows(seq, conc);
    } finally {
      for (const j of joiners) j.close();
      await server.stop();
    }
  } finally {
    await redis.destroy().catch(() => undefined);
    await pg.destroy().catch(() => undefined);
  }
}
