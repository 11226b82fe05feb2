// Which policies compile: the forms outside the subset, printed by a real PostgreSQL, are never
// compiled, alone or beside compiled ones; a redefined auth helper leaves its policies to the
// database; and the gateway's table access catalog picks the policies that apply to a role as row
// security does.
import { SUPABASE_AUTH_SQL, sql, startBackends, type Backends } from '@walcast/test-utils';

import { compilePolicySet, type PolicySet, type TableShape } from '../src/rls/policy-compiler';
import { createLogger } from '@walcast/logger';
import { createRowAuthPool } from '../src/rls/pg-pool';
import { TableAccessCatalog } from '../src/rls/table-access';
import type { AuthFunctions } from '../src/rls/auth-functions';
import { DOCS, DOCS_DDL, createPolicies, readAuthFunctions } from './policy-support';

jest.setTimeout(60_000);

/** Policies in the subset, to stand beside the others. */
const INSIDE: Record<string, string> = {
  uid: 'auth.uid() = owner',
  always: 'true',
  email: 'auth.email() = team',
};

/** Forms outside the subset, each alone on public.docs: never compiled. */
const OUTSIDE: Record<string, string> = {
  otherTable: 'exists (select 1 from public.teams t where t.member = auth.uid())',
  sameTableSubquery: 'id in (select d.id from public.docs d)',
  functionCall: "lower(team) = 'a'",
  like: "team like 'a%'",
  now: 'at < now()',
  textOrder: "team < 'b'",
  arithmetic: 'n + 1 = 2',
  claimToNumeric: "(auth.jwt() ->> 'org')::numeric = big",
  currentUser: 'team = current_user',
  jsonbEquality: `auth.jwt() -> 'team' = '"a"'::jsonb`,
  nullif: "nullif(team, '') is null",
  caseWhen: 'case when flag then true else false end',
  unsetClaim: "current_setting('request.jwt.claim.email', true) = team",
  timestampOrder: "at > '2024-01-01 00:00:00+00'",
  numeric: 'n = 5.5',
  arrayOfColumns: "team = any (array[team, 'a'])",
};

let backends: Backends;
let auth: AuthFunctions;
let quals = new Map<string, string>();

function qual(name: string): string {
  const text = quals.get(name);
  if (text === undefined) throw new Error(`no policy ${name}`);
  return text;
}

beforeAll(async () => {
  backends = await startBackends();
  await sql(
    backends.pg.url,
    ...SUPABASE_AUTH_SQL,
    DOCS_DDL,
    'create table public.teams (id int4 primary key, member uuid)',
  );
  quals = await createPolicies(backends.pg.url, 'public.docs', { ...INSIDE, ...OUTSIDE });
  auth = await readAuthFunctions(backends.pg.url);
});

afterAll(async () => {
  await backends?.stop();
});

describe('forms outside the subset', () => {
  it.each(Object.keys(OUTSIDE))('%s is not compiled, alone or beside compiled policies', (name) => {
    const outside = qual(name);
    expect(compilePolicySet({ permissive: [outside], restrictive: [] }, DOCS, auth)).toBeNull();
    expect(compilePolicySet({ permissive: [qual('uid')], restrictive: [outside] }, DOCS, auth)).toBeNull();
    expect(
      compilePolicySet({ permissive: [qual('always'), outside], restrictive: [] }, DOCS, auth),
    ).toBeNull();
  });

  it('a redefined auth helper leaves the policies calling it to the database', async () => {
    await sql(
      backends.pg.url,
      `create or replace function auth.email() returns text language sql stable
         as $$ select current_setting('request.jwt.claims', true)::jsonb ->> 'mail' $$`,
    );
    const redefined = await readAuthFunctions(backends.pg.url);
    expect(compilePolicySet({ permissive: [qual('email')], restrictive: [] }, DOCS, redefined)).toBeNull();
    expect(compilePolicySet({ permissive: [qual('uid')], restrictive: [] }, DOCS, redefined)).not.toBeNull();
  });
});

describe('the policies that apply to a role', () => {
  it('are the SELECT and ALL policies with USING, for PUBLIC or an inherited role, by name', async () => {
    await sql(
      backends.pg.url,
      'create table public.roles_demo (id int4 primary key)',
      'create role demo_group nologin',
      'create role demo_user nologin inherit',
      'grant demo_group to demo_user, authenticated', // authenticated is NOINHERIT
      'create policy "b all" on public.roles_demo for all using (id = 1)',
      'create policy "a select" on public.roles_demo for select to demo_user, anon using (id = 2)',
      'create policy c_group on public.roles_demo for select to demo_group using (id = 3)',
      'create policy d_check_only on public.roles_demo for all with check (true)',
      'create policy e_insert on public.roles_demo for insert with check (true)',
      'create policy f_update on public.roles_demo for update using (true)',
      'create policy g_restrict on public.roles_demo as restrictive for select using (id > 0)',
    );
    const log = createLogger({ service: 'gateway', level: 'silent', version: 'test' });
    const setFor = async (role: string): Promise<PolicySet> => {
      const pool = createRowAuthPool(
        { connection: { connectionString: backends.pg.url }, poolSize: 1, checkTimeoutMs: 5000 },
        log,
      );
      try {
        const catalog = new TableAccessCatalog({ db: pool, refreshMs: 60_000, log });
        return (await catalog.get('public', 'roles_demo', role))!.policies;
      } finally {
        await pool.end();
      }
    };
    // What row security itself shows each role agrees with the set's verdicts.
    await sql(
      backends.pg.url,
      'insert into public.roles_demo select generate_series(-1, 4)',
      'alter table public.roles_demo enable row level security',
      'grant select on public.roles_demo to demo_user, anon, authenticated',
    );
    const shape: TableShape = {
      schema: 'public',
      table: 'roles_demo',
      columns: [{ name: 'id', type: 'int4' }],
    };
    for (const role of ['demo_user', 'authenticated', 'anon']) {
      const predicate = compilePolicySet(await setFor(role), shape, auth)!;
      const seen = await sql(
        backends.pg.url,
        `set role ${role}`,
        'select id from public.roles_demo order by id',
      );
      const expected = [-1, 0, 1, 2, 3, 4].filter((id) => predicate({ id }, {}) === true);
      expect(seen.map((r) => r['id'])).toEqual(expected);
    }
    expect(await setFor('demo_user')).toEqual({
      permissive: ['(id = 2)', '(id = 1)', '(id = 3)'],
      restrictive: ['(id > 0)'],
    });
    expect(await setFor('authenticated')).toEqual({ permissive: ['(id = 1)'], restrictive: ['(id > 0)'] });
    expect(await setFor('anon')).toEqual({ permissive: ['(id = 2)', '(id = 1)'], restrictive: ['(id > 0)'] });
  });
});
