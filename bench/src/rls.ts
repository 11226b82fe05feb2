/**
 * Row authorization: 1,000 vsn 2.0.0 sockets as 100 users (10 sockets each, one JWT per user) on a
 * table with row-level security `owner = auth.uid()`; every change belongs to one user, spread
 * round-robin, so each change is delivered to that user's 10 sockets and judged for all 100
 * identities. Changes are bus envelopes PUBLISHed straight to Redis (as the fan-out part), so only
 * the gateway (and the database it asks) is measured.
 *
 * Three gateways, same clients, same deliveries:
 * - baseline: ROW_AUTHORIZATION=off, each socket's binding filtered `owner=eq.<its user>` (what an
 *   application without RLS would do; the same frames reach the same sockets);
 * - `owner = auth.uid()`: ROW_AUTHORIZATION=postgres, unfiltered bindings; the policy compiles to
 *   an in-memory predicate when the gateway can compile it, else PostgreSQL evaluates it;
 * - database: a policy outside the compiled subset (it also reads a membership table), so every
 *   verdict comes from PostgreSQL.
 * Reported: deliveries/s (median of 3), verdicts/s for the database path, and publish→client
 * latency p50/p99 at a steady 100 changes/s for each.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { LocalPostgres, LocalRedis } from '@walcast/local-services';
import { SUPABASE_AUTH_SQL, sql } from '@walcast/test-utils';
import { ClientFleet } from './load-clients';
import { startGateway, type Server } from './servers';
import {
  LatencyHistogram,
  encodeEnvelope,
  epochMs,
  median,
  procCpuSeconds,
  sleep,
  topicForTable,
  type ResultRow,
} from './util';

const USERS = 100;
const SOCKETS = Number(process.env['RLS_SOCKETS'] ?? '1000');
const MESSAGES = Number(process.env['RLS_MESSAGES'] ?? '20000');
const RATE = Number(process.env['RLS_RATE'] ?? '5000');
/**
 * The database path is measured as a burst: its changes all published at once, then the time until
 * every socket has its share, so the figure is its capacity (each channel holds at most 10,000
 * changes waiting for verdicts; a burst below that loses nothing).
 */
const DB_MESSAGES = Number(process.env['RLS_DB_MESSAGES'] ?? '3000');
const DB_RATE = Number(process.env['RLS_DB_RATE'] ?? '1000000');
const LATENCY_RATE = 100;
const LATENCY_SECONDS = 5;
const REPEATS = 3;
const SECRET = 'bench-rls-secret-with-at-least-32-characters';
const TABLE = 'rls_t';
/** `owner = auth.uid()` compiles to an in-memory predicate; `RLS_OWNER_COMPILES=false` measures it as a burst. */
const OWNER_COMPILES = process.env['RLS_OWNER_COMPILES'] !== 'false';
const BUS_TOPIC = topicForTable('public', TABLE);
const CHANNEL = 'realtime:rls';

const SCHEMA = [
  ...SUPABASE_AUTH_SQL,
  `create table ${TABLE} (id int8 primary key, owner uuid not null, n int4, t_ms float8)`,
  `grant select on ${TABLE} to authenticated`,
  `alter table ${TABLE} enable row level security`,
  'create table members (user_id uuid primary key)',
  'grant select on members to authenticated',
];

type Mode = 'baseline' | 'owner' | 'database';
const POLICIES: Record<Mode, string | null> = {
  baseline: null,
  owner: 'owner = auth.uid()',
  database: 'owner = auth.uid() and exists (select 1 from members m where m.user_id = auth.uid())',
};

function jwt(claims: Record<string, unknown>): string {
  const b64 = (v: string | Buffer): string => Buffer.from(v).toString('base64url');
  const body = { exp: Math.floor(Date.now() / 1000) + 3600, ...claims };
  const unsigned = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(body))}`;
  return `${unsigned}.${b64(createHmac('sha256', SECRET).update(unsigned).digest())}`;
}

function event(id: number, owner: string): string {
  return JSON.stringify({
    schema: 'public',
    table: TABLE,
    commit_timestamp: '2026-01-01T00:00:00.000000Z',
    errors: null,
    type: 'INSERT',
    columns: [
      { name: 'id', type: 'int8' },
      { name: 'owner', type: 'uuid' },
      { name: 'n', type: 'int4' },
      { name: 't_ms', type: 'float8' },
    ],
    record: { id, owner, n: id % 1000, t_ms: epochMs() },
  });
}

async function publish(
  pub: Redis,
  users: string[],
  count: number,
  rate: number,
  first: number,
): Promise<number> {
  const src = `bench-rls-${process.pid}-${Date.now()}`;
  const t0 = epochMs();
  const perTick = Math.max(1, Math.round(rate / 100));
  let sent = 0;
  while (sent < count) {
    const due = Math.min(count, Math.floor(((epochMs() - t0) / 1000) * rate) + perTick);
    if (due > sent) {
      const p = pub.pipeline();
      for (; sent < due; sent++) {
        const id = first + sent;
        const lsn = `0/${(0x1000000 + id).toString(16).toUpperCase()}`;
        p.publish(BUS_TOPIC, encodeEnvelope(src, sent + 1, lsn, event(id, users[id % USERS]!), ['id']));
      }
      await p.exec();
    }
    await sleep(10);
  }
  return t0;
}

interface ModeResult {
  perS: number[];
  p50: number;
  p99: number;
  verdictsPerS: number[];
  /** Deliveries per CPU-second of the gateway process (capacity, whatever the offered rate). */
  perCpuS: number[];
  load: string;
}

async function runMode(
  mode: Mode,
  pgUrl: string,
  redisUrl: string,
  pub: Redis,
  users: string[],
  load: { messages: number; rate: number },
): Promise<ModeResult> {
  const { messages: MESSAGES, rate: RATE } = load;
  await sql(pgUrl, `drop policy if exists bench on ${TABLE}`);
  const policy = POLICIES[mode];
  if (policy)
    await sql(pgUrl, `create policy bench on ${TABLE} for select to authenticated using (${policy})`);
  const server: Server = await startGateway(redisUrl, [], {
    SECURE_CHANNELS: 'true',
    JWT_SECRET: SECRET,
    DATABASE_URL: pgUrl,
    ROW_AUTHORIZATION: mode === 'baseline' ? 'off' : 'postgres',
  });
  const payloads = users.map((user) => ({
    config: {
      postgres_changes: [
        {
          event: '*',
          schema: 'public',
          table: TABLE,
          ...(mode === 'baseline' ? { filter: `owner=eq.${user}` } : {}),
        },
      ],
    },
    access_token: jwt({ role: 'authenticated', sub: user }),
  }));
  const url = `${server.url.replace('vsn=1.0.0', 'vsn=2.0.0')}&apikey=${jwt({ role: 'anon' })}`;
  const fleet = ClientFleet.start([url], SOCKETS, 2, CHANNEL, 0, JSON.stringify(payloads));
  const result: ModeResult = { perS: [], p50: NaN, p99: NaN, verdictsPerS: [], perCpuS: [], load: '' };
  let next = 1;
  try {
    await fleet.connect();
    for (let rep = 0; rep < REPEATS; rep++) {
      for (const c of fleet.procs) c.send({ cmd: 'expect', perSocket: MESSAGES / USERS });
      await sleep(100);
      const dones = fleet.procs.map((c) => c.next('done', 120_000));
      const cpu0 = procCpuSeconds(server.pid);
      const t0 = await publish(pub, users, MESSAGES, RATE, next);
      next += MESSAGES;
      const done = await Promise.all(dones);
      const elapsedS = (Math.max(...done.map((d) => Number(d['at']))) - t0) / 1000;
      const received = done.reduce((a, d) => a + Number(d['received']), 0);
      result.perS.push(received / elapsedS);
      result.perCpuS.push(received / (procCpuSeconds(server.pid) - cpu0));
      result.verdictsPerS.push((MESSAGES * USERS) / elapsedS);
      result.load = `${MESSAGES} changes at ${RATE >= 1_000_000 ? 'once' : `${RATE}/s`}`;
      console.log(
        `  rls ${mode} #${rep + 1}: ${MESSAGES} changes at ${RATE}/s → ${received} deliveries in ${(elapsedS * 1000).toFixed(0)} ms = ${Math.round(received / elapsedS)}/s`,
      );
    }
    for (const c of fleet.procs) c.send({ cmd: 'latency' });
    await sleep(100);
    await publish(pub, users, LATENCY_RATE * LATENCY_SECONDS, LATENCY_RATE, next);
    await sleep(500);
    const reports = await fleet.ask({ cmd: 'report' }, 'report', 5000);
    const histogram = new LatencyHistogram();
    for (const r of reports) histogram.merge(r['histogram'] as Array<[number, number]>);
    result.p50 = histogram.percentile(50);
    result.p99 = histogram.percentile(99);
    console.log(
      `  rls ${mode} latency at ${LATENCY_RATE}/s: p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms`,
    );
  } finally {
    fleet.stop();
    await server.stop();
  }
  return result;
}

export async function benchRls(): Promise<ResultRow[]> {
  const pg = await LocalPostgres.start();
  const redis = await LocalRedis.start();
  const pub = new Redis(redis.url);
  try {
    await sql(pg.url, ...SCHEMA);
    const users = Array.from({ length: USERS }, () => randomUUID());
    await sql(pg.url, `insert into members values ${users.map((u) => `('${u}')`).join(',')}`);
    const fast = { messages: MESSAGES, rate: RATE };
    const burst = { messages: DB_MESSAGES, rate: DB_RATE };
    const base = await runMode('baseline', pg.url, redis.url, pub, users, fast);
    const owner = await runMode('owner', pg.url, redis.url, pub, users, OWNER_COMPILES ? fast : burst);
    const database = await runMode('database', pg.url, redis.url, pub, users, burst);
    const label = `row authorization, ${SOCKETS} sockets as ${USERS} users`;
    const baselineName = 'ROW_AUTHORIZATION=off, each socket filtered owner=eq.<user>';
    const row = (name: string, r: ModeResult, note: string): ResultRow => ({
      benchmark: `${label}: ${name} (${r.load}; baseline ${base.load})`,
      unit: 'deliveries/s',
      figure: median(r.perS),
      baselineName,
      baseline: median(base.perS),
      samples: r.perS,
      baselineSamples: base.perS,
      note,
    });
    return [
      row('policy owner = auth.uid()', owner, 'target ≥ 0.5× when compiled'),
      {
        benchmark: `${label}: policy owner = auth.uid(), per CPU-second of the gateway`,
        unit: 'deliveries/CPU-s',
        figure: median(owner.perCpuS),
        baselineName,
        baseline: median(base.perCpuS),
        samples: owner.perCpuS,
        baselineSamples: base.perCpuS,
        note: 'capacity, whatever the offered rate',
      },
      row('policy reading a membership table (database path)', database, 'every verdict from PostgreSQL'),
      {
        benchmark: `${label}: verdicts/s on the database path (changes × identities)`,
        unit: 'verdicts/s',
        figure: median(database.verdictsPerS),
        baselineName: "Supabase's published 3–4k checked messages/s (upper end)",
        baseline: 4000,
        samples: database.verdictsPerS,
        baselineSamples: [4000],
        note: 'target ≥ 10×',
      },
      {
        benchmark: `${label}: publish→client p99 at ${LATENCY_RATE} changes/s, database path`,
        unit: 'ms',
        figure: database.p99,
        baselineName: 'the same without row authorization',
        baseline: base.p99,
        samples: [database.p99],
        baselineSamples: [base.p99],
        better: 'lower',
        digits: 1,
        note: `p50 ${database.p50.toFixed(1)} vs ${base.p50.toFixed(1)} ms; owner policy p99 ${owner.p99.toFixed(1)} ms; target: < 20 ms added`,
      },
    ];
  } finally {
    pub.disconnect();
    await redis.destroy().catch(() => undefined);
    await pg.destroy().catch(() => undefined);
  }
}
