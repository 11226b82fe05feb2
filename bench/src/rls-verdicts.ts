/**
 * Row-level security: time to decide whether one change is visible to one subscriber, for a
 * typical Supabase policy set (`auth.uid() = owner` or the claim's team, restricted to the
 * `authenticated` role). walcast = the compiled in-memory predicate (services/gateway/dist/rls),
 * CPU time per check. Baseline = the database path it replaces: one transaction per check on one
 * connection (`set local role`, the three `set_config`s, the policy select over
 * `jsonb_populate_record`, rollback) against a local PostgreSQL, wall time per check. Both judge
 * the same rows and claims, and their verdicts must agree.
 */
import { Client } from 'pg';
import { LocalPostgres } from '@walcast/local-services';
import { SUPABASE_AUTH_SQL } from '@walcast/test-utils';
import {
  AUTH_FUNCTIONS_QUERY,
  authFunctionsFromRows,
  type AuthFunctionRow,
} from '../../services/gateway/dist/rls/auth-functions';
import { jwtSettings } from '../../services/gateway/dist/rls/jwt-settings';
import {
  compilePolicySet,
  type TableShape,
  type Verdict,
} from '../../services/gateway/dist/rls/policy-compiler';
import { policyRow } from '../../services/gateway/dist/rls/policy-row';
import { median, nowMs, type ResultRow } from './util';

const REPEATS = 3;
const CHECKS = 1_000;
const SAMPLE_MS = 60;

const SHAPE: TableShape = {
  schema: 'public',
  table: 'docs',
  columns: [
    { name: 'id', type: 'int8' },
    { name: 'owner', type: 'uuid' },
    { name: 'team', type: 'text' },
    { name: 'body', type: 'text' },
  ],
};

interface Check {
  recordJson: string;
  claims: Record<string, unknown>;
}

function uuid(i: number): string {
  return `00000000-0000-4000-8000-${i.toString(16).padStart(12, '0')}`;
}

/** Rows owned by 20 users in 5 teams; subscribers from the same population, half of them anonymous. */
function checks(): Check[] {
  const out: Check[] = [];
  for (let i = 0; i < CHECKS; i++) {
    const recordJson = JSON.stringify({
      id: i,
      owner: uuid(i % 20),
      team: `team-${i % 5}`,
      body: 'x'.repeat(64),
    });
    const user = (i * 7) % 20;
    const claims = {
      aud: 'authenticated',
      exp: 2_000_000_000,
      sub: uuid(user),
      role: i % 2 === 0 ? 'authenticated' : 'anon',
      team: `team-${user % 5}`,
      email: `user${user}@example.com`,
    };
    out.push({ recordJson, claims });
  }
  return out;
}

/** CPU nanoseconds per check: the fastest of 5 runs of about SAMPLE_MS each, after a warm-up. */
function timeCompiled(
  predicate: (c: Check, row: ReturnType<typeof policyRow>) => Verdict,
  all: Check[],
): number {
  const rows = all.map((c) => policyRow(c.recordJson));
  const run = (rounds: number): number => {
    const t0 = process.cpuUsage();
    for (let r = 0; r < rounds; r++) for (let i = 0; i < all.length; i++) predicate(all[i]!, rows[i]!);
    const used = process.cpuUsage(t0);
    return (used.user + used.system) / 1000;
  };
  let rounds = 1;
  while (run(rounds) < 20) rounds *= 2;
  const count = Math.max(1, Math.round((SAMPLE_MS / run(rounds)) * rounds));
  let best = Infinity;
  for (let s = 0; s < 5; s++) best = Math.min(best, run(count));
  return (best * 1e6) / (count * all.length);
}

/** Wall microseconds per check through PostgreSQL, one transaction each; the verdicts. */
async function timeDatabase(client: Client, combined: string, all: Check[]): Promise<[number, Verdict[]]> {
  const verdicts: Verdict[] = [];
  const t0 = nowMs();
  for (const c of all) {
    const s = jwtSettings(c.claims);
    await client.query('begin');
    try {
      await client.query('set local role "authenticated"');
      await client.query(
        `select set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', $2, true),
                set_config('request.jwt.claim.role', $3, true)`,
        [s.claims, s.sub, s.role],
      );
      const { rows } = await client.query(
        `select (${combined}) as visible from jsonb_populate_record(null::"public"."docs", $1::jsonb) as "docs"`,
        [c.recordJson],
      );
      verdicts.push(rows[0]?.visible === true);
    } catch (err) {
      verdicts.push({ error: (err as Error).message });
    } finally {
      await client.query('rollback');
    }
  }
  return [((nowMs() - t0) * 1000) / all.length, verdicts];
}

export async function benchRlsVerdicts(): Promise<ResultRow[]> {
  const pg = await LocalPostgres.start();
  const client = new Client({ connectionString: pg.url });
  try {
    await client.connect();
    for (const statement of SUPABASE_AUTH_SQL) await client.query(statement);
    await client.query('create table public.docs (id int8 primary key, owner uuid, team text, body text)');
    await client.query('grant select on public.docs to anon, authenticated');
    await client.query(
      "create policy own on public.docs for select using ((select auth.uid()) = owner or auth.jwt() ->> 'team' = team)",
    );
    await client.query(
      "create policy signed_in on public.docs as restrictive for select using (auth.role() = 'authenticated')",
    );
    const { rows: policies } = await client.query<{ permissive: string; qual: string }>(
      "select permissive, qual from pg_policies where tablename = 'docs' order by policyname",
    );
    const permissive = policies.filter((p) => p.permissive === 'PERMISSIVE').map((p) => p.qual);
    const restrictive = policies.filter((p) => p.permissive === 'RESTRICTIVE').map((p) => p.qual);
    const auth = authFunctionsFromRows((await client.query<AuthFunctionRow>(AUTH_FUNCTIONS_QUERY)).rows);
    const compiled = compilePolicySet({ permissive, restrictive }, SHAPE, auth);
    if (compiled === null) throw new Error('the bench policies did not compile');
    const combined = [
      `((${permissive.map((p) => `(${p})`).join(' OR ')}) IS TRUE)`,
      ...restrictive.map((r) => `((${r}) IS TRUE)`),
    ].join(' AND ');

    const all = checks();
    const predicate = (c: Check, row: ReturnType<typeof policyRow>): Verdict => compiled(row, c.claims);
    const inMemory: number[] = [];
    const database: number[] = [];
    let visible = 0;
    for (let rep = 0; rep < REPEATS; rep++) {
      inMemory.push(timeCompiled(predicate, all) / 1000);
      const [perCheck, verdicts] = await timeDatabase(client, combined, all);
      database.push(perCheck);
      visible = 0;
      verdicts.forEach((v, i) => {
        const mine = predicate(all[i]!, policyRow(all[i]!.recordJson));
        if (JSON.stringify(mine) !== JSON.stringify(v))
          throw new Error(`check ${i}: compiled ${String(mine)}, PostgreSQL ${JSON.stringify(v)}`);
        if (v === true) visible++;
      });
    }
    console.log(
      `  rls: compiled ${inMemory.map((x) => x.toFixed(3)).join('/')} µs, ` +
        `database ${database.map((x) => x.toFixed(0)).join('/')} µs per check (${visible}/${all.length} visible)`,
    );
    return [
      {
        benchmark:
          'decide 1 change for 1 subscriber, Supabase policy set (uid or team claim, role restrictive)',
        unit: 'µs/check',
        figure: median(inMemory),
        baselineName: 'PostgreSQL, one transaction per check (local, 1 connection)',
        baseline: median(database),
        samples: inMemory,
        baselineSamples: database,
        better: 'lower',
        digits: 3,
        note: `${visible} of ${all.length} visible; verdicts identical`,
      },
    ];
  } finally {
    await client.end().catch(() => undefined);
    await pg.destroy().catch(() => undefined);
  }
}
