// Differential test of compiled row-level security policies: for policy sets over tables with
// uuid/text/int2/int4/int8/bool/varchar/timestamptz columns, the compiled predicate's verdict must
// equal PostgreSQL's for thousands of generated (row, claims) pairs, evaluated exactly as the
// database path does (one transaction per check, Supabase's auth helpers installed). Also: the
// forms outside the subset, printed by a real PostgreSQL, are not compiled.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { SUPABASE_AUTH_SQL, sql, startBackends, type Backends } from '@walcast/test-utils';

import {
  AUTH_FUNCTIONS_QUERY,
  authFunctionsFromRows,
  type AuthFunctionRow,
  type AuthFunctions,
} from '../src/rls/auth-functions';
import { jwtSettings } from '../src/rls/jwt-settings';
import { POLICIES_QUERY, policySetFromRows, type PolicyRow } from '../src/rls/policy-query';
import { policyRow } from '../src/rls/policy-row';
import { compilePolicySet, type PolicySet, type TableShape, type Verdict } from '../src/rls/policy-compiler';

jest.setTimeout(120_000);

/** The part of node-postgres's Client the test uses (pg is a dependency of test-utils). */
interface PgClient {
  connect(): Promise<void>;
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
}
const requireFromTestUtils = createRequire(resolve(__dirname, '../../../packages/test-utils/package.json'));
const { Client } = requireFromTestUtils('pg') as {
  Client: new (opts: { connectionString: string }) => PgClient;
};

const TABLE: TableShape = {
  schema: 'public',
  table: 'docs',
  columns: [
    { name: 'id', type: 'int8' },
    { name: 'owner', type: 'uuid' },
    { name: 'team', type: 'text' },
    { name: 'n', type: 'int4' },
    { name: 'big', type: 'int8' },
    { name: 'small', type: 'int2' },
    { name: 'flag', type: 'bool' },
    { name: 'at', type: 'timestamptz' },
    { name: 'label', type: 'varchar' },
  ],
};
const MIXED: TableShape = {
  schema: 'public',
  table: 'Mixed Case',
  columns: [
    { name: 'id', type: 'int4' },
    { name: 'Owner', type: 'uuid' },
    { name: 'note text', type: 'text' },
  ],
};

/** Policies by name: the SQL written in CREATE POLICY. */
const POLICIES: Record<string, string> = {
  uid: 'auth.uid() = owner',
  uidSelect: '(select auth.uid()) = owner',
  uidAndFlag: 'owner = auth.uid() and flag',
  inLists: "team in ('a', 'b') or n in (1, 2, 3)",
  jwtTeam: "auth.jwt() ->> 'team' = team",
  jwtNested: "auth.jwt() -> 'app' ->> 'team' = team",
  role: "auth.role() = 'authenticated'",
  claimsJson: "current_setting('request.jwt.claims', true)::json ->> 'team' = team",
  claimsJsonbSub: "(current_setting('request.jwt.claims', true)::jsonb ->> 'sub')::uuid = owner",
  nullOrNot: 'team is null or not flag',
  always: 'true',
  bigNumbers: 'big = 9007199254740993 or big in (1, -2, 10000000000) or n > 5',
  jwtSubUuid: "owner = (auth.jwt() ->> 'sub')::uuid",
  admin: "(auth.jwt() ->> 'is_admin')::boolean",
  email: 'auth.email() = team',
  subSetting: "current_setting('request.jwt.claim.sub', true) = owner::text",
  roleSetting: "current_setting('request.jwt.claim.role') = 'anon'",
  notNulls: 'auth.uid() is not null and not (flag is null)',
  constFalse: '(auth.uid() = owner) and false',
  constNull: 'auth.uid() = null::uuid or flag',
  label: "label = 'a' or label::text in ('b', 'é☃')",
  small: 'small < 100 and small::int4 <> n',
  isTrue: "flag is not true or (auth.jwt() ->> 'team') is null",
  notIn: "team not in ('a', 'b')",
  uuidOrder: "owner < 'a0000000-0000-0000-0000-000000000000'",
  atSet: 'at is not null',
  narrowing: 'big::int4 = n',
  widening: 'n::int8 = big',
  notOr: "not (auth.role() = 'anon' or team = 'a')",
  columnList: 'n in (small, 1)',
  claimInt: "n = (auth.jwt() ->> 'n')::int",
  claimBigint: "big = (current_setting('request.jwt.claims', true)::jsonb ->> 'org')::bigint",
  claimSmallint: "small::text = (auth.jwt() ->> 'n')::int2::text or n::text = auth.jwt() ->> 'org'",
  jwtSelect: "(select auth.jwt()) ->> 'team' = team or (select auth.role()) in ('anon', 'service_role')",
  coalesceAdmin: "coalesce((auth.jwt() ->> 'is_admin')::boolean, false)",
  distinctTeam: "team is distinct from 'a' and team is not distinct from auth.jwt() ->> 'team'",
  coalesceChain: "coalesce(team, auth.jwt() ->> 'team', 'z') = 'z' or coalesce(null::bool, flag)",
  coalesceFolded: '(auth.uid() = owner) and coalesce(null::bool, false)',
  uidInList: "owner in ('11111111-1111-1111-1111-111111111111', '{22222222-2222-2222-2222-222222222222}')",
};

/** Policies on "Mixed Case", whose column names need quoting. */
const MIXED_POLICIES: Record<string, string> = {
  mixedOwner: `auth.uid() = "Owner" and "note text" <> ''`,
  mixedNote: `"note text" = auth.jwt() ->> 'team' or id = 3`,
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

/** The compiled policy sets: permissive and restrictive policy names. */
const SETS: Array<[string[], string[]]> = [
  [['uid'], []],
  [['uidSelect', 'jwtTeam'], []],
  [['inLists'], ['role']],
  [['uidAndFlag', 'nullOrNot'], ['notNulls']],
  [['always'], ['jwtSubUuid']],
  [[], ['always']],
  [['bigNumbers', 'small'], ['notIn']],
  [['admin'], []],
  [['claimsJson'], ['claimsJsonbSub']],
  [['email', 'label'], ['isTrue']],
  [['constFalse', 'constNull'], []],
  [['jwtNested'], ['subSetting']],
  [['roleSetting', 'uuidOrder'], ['atSet']],
  [['narrowing', 'widening'], []],
  [['notOr', 'uidInList'], ['admin']],
  [['columnList', 'widening'], ['notIn']],
  [['claimInt', 'claimBigint'], []],
  [['coalesceAdmin', 'distinctTeam'], ['coalesceChain']],
  [['coalesceFolded', 'coalesceChain'], []],
  [['claimSmallint'], ['jwtSelect']],
];

const RUNS_PER_SET = 300;

const UUIDS = [
  '11111111-1111-1111-1111-111111111111',
  '22222222-2222-2222-2222-222222222222',
  'a0000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
];
const TEXTS = ['a', 'b', 'A', '', 'é☃', ' a', 'a\u0301', '😀', 'anon', 'authenticated', 'x@example.com'];

/** A column value: absent from the record, JSON null, or a value. */
function column<T>(value: fc.Arbitrary<T>): fc.Arbitrary<T | null | undefined> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant(null) },
    {
      weight: 6,
      arbitrary: value,
    },
  );
}

const int8 = fc.oneof(
  fc.constantFrom(9007199254740993n, 9007199254740992n, 1n, -2n, 10000000000n, 5n, 6n, 0n, 2147483648n),
  fc.constantFrom(-9223372036854775808n, 9223372036854775807n, -2147483648n, 2147483647n),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.bigInt({ min: -10n, max: 10n }),
);
const int4 = fc.oneof(fc.integer({ min: -3, max: 8 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const int2 = fc.oneof(fc.integer({ min: 95, max: 105 }), fc.integer({ min: -32768, max: 32767 }));
const text = fc.oneof(fc.constantFrom(...TEXTS), fc.string({ unit: 'grapheme', maxLength: 6 }));
const uuid = fc.oneof(fc.constantFrom(...UUIDS), fc.uuid());

/** A record as the ingester encodes it (`json`) and as the predicate receives it (`row`). */
const recordArb = fc
  .record({
    id: column(int8),
    owner: column(uuid),
    team: column(text),
    n: column(int4),
    big: column(int8),
    small: column(int2),
    flag: column(fc.boolean()),
    at: column(fc.constantFrom('2024-01-01T00:00:00+00:00', '2021-06-30T12:34:56.123456+00:00', 'infinity')),
    label: column(fc.oneof(fc.constantFrom('a', 'b', 'é☃', ''), fc.string({ maxLength: 20 }))),
  })
  .map((fields) => {
    const parts: string[] = [];
    for (const [name, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      const json = typeof value === 'bigint' ? value.toString() : JSON.stringify(value);
      parts.push(`${JSON.stringify(name)}:${json}`);
    }
    const json = `{${parts.join(',')}}`;
    return { row: policyRow(json), json };
  });

/** A claim value: what real tokens carry and what hostile ones might. */
function claim(values: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 6, arbitrary: values },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom(0, 5, 1e21, 1.5e-7, 12345678901234567000, -0.5, true, false, 'a\u0000b', '\ud800x'),
        fc.constantFrom([1, 'a'], { team: 'a' }, { 'é\n': null, zz: [1, 2.5e30], b: {} }, {}),
      ),
    },
  );
}

const subArb = claim(
  fc.oneof(
    fc.constantFrom(...UUIDS),
    fc.constantFrom(...UUIDS).map((u) => u.toUpperCase()),
    fc.constantFrom(...UUIDS).map((u) => `{${u.replace(/-/g, '')}}`),
    fc.constantFrom('', 'abc', 'not-a-uuid', ' 11111111-1111-1111-1111-111111111111', '1111-1111'),
    fc.uuid(),
  ),
);
const claimsArb = fc
  .record({
    sub: subArb,
    role: claim(fc.constantFrom('authenticated', 'anon', '', 'service_role', 'é☃')),
    team: claim(text),
    email: claim(text),
    app: claim(fc.record({ team: claim(text) })),
    n: claim(
      fc.oneof(int4, fc.constantFrom(' 12 ', '+5', '-0', '1_000', '0x10', '2147483648', '1.0', '', '7')),
    ),
    org: claim(
      fc.oneof(
        int8.map((v) => v.toString()),
        int4,
        fc.constantFrom(' 6 ', '9007199254740993', 'x'),
      ),
    ),
    is_admin: claim(fc.constantFrom('true', 'yes', 't', ' off ', 'o', 'on', 'maybe', '1', 'FALSE', '')),
  })
  .map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)));

let backends: Backends;
let client: PgClient;
/** A second database whose helpers have the 2022 bodies, without `set search_path`, which PostgreSQL inlines. */
let inlinedClient: PgClient;
let inlinedAuth: AuthFunctions;
const INLINED_AUTH_SQL = SUPABASE_AUTH_SQL.map((statement) =>
  statement.replace(/\n\s*set search_path to ''/, ''),
);
let auth: AuthFunctions;
/** pg_policies.qual of each policy in POLICIES, as the database printed it. */
const quals = new Map<string, string>();

/** The printed qual of a policy created in beforeAll. */
function qual(name: string): string {
  const text = quals.get(name);
  if (text === undefined) throw new Error(`no policy ${name}`);
  return text;
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

beforeAll(async () => {
  backends = await startBackends();
  await sql(backends.pg.url, ...SUPABASE_AUTH_SQL);
  await sql(
    backends.pg.url,
    `create table public.docs (id int8 primary key, owner uuid, team text, n int4, big int8, small int2,
       flag bool, at timestamptz, label varchar(20))`,
    'create table public."Mixed Case" (id int4 primary key, "Owner" uuid, "note text" text)',
    'create table public.teams (id int4 primary key, member uuid)',
    'grant select on all tables in schema public to anon, authenticated',
    ...Object.entries({ ...POLICIES, ...OUTSIDE }).map(
      ([name, using]) => `create policy ${quote(name)} on public.docs using (${using})`,
    ),
    ...Object.entries(MIXED_POLICIES).map(
      ([name, using]) => `create policy ${quote(name)} on public."Mixed Case" using (${using})`,
    ),
  );
  for (const row of await sql(backends.pg.url, 'select policyname, qual from pg_policies')) {
    quals.set(row['policyname'] as string, row['qual'] as string);
  }
  auth = authFunctionsFromRows(
    (await sql(backends.pg.url, AUTH_FUNCTIONS_QUERY)) as unknown as AuthFunctionRow[],
  );
  client = new Client({ connectionString: backends.pg.url });
  await client.connect();

  await sql(backends.pg.url, 'create database inlined');
  const inlinedUrl = backends.pg.url.replace(/\/postgres$/, '/inlined');
  await sql(
    inlinedUrl,
    ...INLINED_AUTH_SQL,
    `create table public.docs (id int8 primary key, owner uuid, team text, n int4, big int8, small int2,
       flag bool, at timestamptz, label varchar(20))`,
  );
  inlinedAuth = authFunctionsFromRows(
    (await sql(inlinedUrl, AUTH_FUNCTIONS_QUERY)) as unknown as AuthFunctionRow[],
  );
  inlinedClient = new Client({ connectionString: inlinedUrl });
  await inlinedClient.connect();
});

afterAll(async () => {
  await client?.end();
  await inlinedClient?.end();
  await backends?.stop();
});

function combinedSql(set: PolicySet): string {
  const permissive = set.permissive.length === 0 ? 'false' : set.permissive.map((p) => `(${p})`).join(' OR ');
  return [`((${permissive}) IS TRUE)`, ...set.restrictive.map((r) => `((${r}) IS TRUE)`)].join(' AND ');
}

/** PostgreSQL's verdict, by the database path's statements. */
async function databaseVerdict(
  client: PgClient,
  shape: TableShape,
  set: PolicySet,
  role: string,
  recordJson: string,
  claims: Record<string, unknown>,
): Promise<Verdict> {
  const settings = jwtSettings(claims);
  await client.query('begin');
  try {
    await client.query(`set local role ${quote(role)}`);
    await client.query(
      `select set_config('request.jwt.claims', $1, true),
              set_config('request.jwt.claim.sub', $2, true),
              set_config('request.jwt.claim.role', $3, true)`,
      [settings.claims, settings.sub, settings.role],
    );
    const { rows } = await client.query(
      `select (${combinedSql(set)}) as visible
         from jsonb_populate_record(null::${quote(shape.schema)}.${quote(shape.table)}, $1::jsonb) as ${quote(shape.table)}`,
      [recordJson],
    );
    return rows[0]?.['visible'] === true;
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    await client.query('rollback');
  }
}

function same(a: Verdict, b: Verdict): boolean {
  return typeof a === 'object' ? typeof b === 'object' : a === b;
}

describe('compiled policies agree with PostgreSQL', () => {
  it('reads Supabase auth helpers from the database', () => {
    expect([auth.uid, auth.jwt, auth.role, auth.email].every((src) => typeof src === 'string')).toBe(true);
    expect(auth.serverVersionNum).toBeGreaterThanOrEqual(120000);
  });

  const tally = { true: 0, false: 0, error: 0 };

  it.each(SETS.map(([p, r]) => [`${p.join('+') || '(none)'} / ${r.join('+') || '(none)'}`, p, r]))(
    'policy set %s',
    async (_name, permissiveNames, restrictiveNames) => {
      const set: PolicySet = {
        permissive: (permissiveNames as string[]).map(qual),
        restrictive: (restrictiveNames as string[]).map(qual),
      };
      const predicate = compilePolicySet(set, TABLE, auth);
      expect(predicate).not.toBeNull();
      await fc.assert(
        fc.asyncProperty(recordArb, claimsArb, async (record, claims) => {
          const compiled = predicate!(record.row, claims);
          const database = await databaseVerdict(client, TABLE, set, 'authenticated', record.json, claims);
          if (!same(compiled, database)) {
            throw new Error(
              `compiled ${JSON.stringify(compiled)} but PostgreSQL ${JSON.stringify(database)}\n` +
                `policies: ${JSON.stringify(set)}`,
            );
          }
          tally[typeof compiled === 'object' ? 'error' : compiled ? 'true' : 'false']++;
        }),
        { numRuns: RUNS_PER_SET },
      );
    },
  );

  it('agrees on a table whose names need quoting', async () => {
    const set: PolicySet = { permissive: [qual('mixedNote')], restrictive: [qual('mixedOwner')] };
    const predicate = compilePolicySet(set, MIXED, auth);
    expect(predicate).not.toBeNull();
    const mixedRecord = fc
      .record({ id: column(fc.integer({ min: 1, max: 4 })), Owner: column(uuid), 'note text': column(text) })
      .map((fields) => {
        const json = JSON.stringify(fields); // drops the absent (undefined) ones
        return { row: policyRow(json), json };
      });
    await fc.assert(
      fc.asyncProperty(mixedRecord, claimsArb, async (record, claims) => {
        const compiled = predicate!(record.row, claims);
        const database = await databaseVerdict(client, MIXED, set, 'anon', record.json, claims);
        if (!same(compiled, database)) {
          throw new Error(`compiled ${JSON.stringify(compiled)} but PostgreSQL ${JSON.stringify(database)}`);
        }
        tally[typeof compiled === 'object' ? 'error' : compiled ? 'true' : 'false']++;
      }),
      { numRuns: RUNS_PER_SET },
    );
  });

  it('agrees with the 2022 helpers, which PostgreSQL inlines into the policies', async () => {
    const { rows } = await inlinedClient.query(
      "select count(*)::int as n from pg_proc where pronamespace = 'auth'::regnamespace and proconfig is null",
    );
    expect(rows[0]?.['n']).toBe(4); // no `set search_path`: inlinable
    const sets = SETS.filter(([p, r]) => [...p, ...r].some((n) => /auth\./.test(POLICIES[n]!)));
    for (const [permissiveNames, restrictiveNames] of sets) {
      const set: PolicySet = {
        permissive: permissiveNames.map(qual),
        restrictive: restrictiveNames.map(qual),
      };
      const predicate = compilePolicySet(set, TABLE, inlinedAuth);
      expect(predicate).not.toBeNull();
      await fc.assert(
        fc.asyncProperty(recordArb, claimsArb, async (record, claims) => {
          const compiled = predicate!(record.row, claims);
          const database = await databaseVerdict(
            inlinedClient,
            TABLE,
            set,
            'authenticated',
            record.json,
            claims,
          );
          if (!same(compiled, database)) {
            throw new Error(
              `compiled ${JSON.stringify(compiled)} but PostgreSQL ${JSON.stringify(database)}\n` +
                `policies: ${JSON.stringify(set)}`,
            );
          }
        }),
        { numRuns: 100 },
      );
    }
  });

  it('saw every verdict many times', () => {
    expect(tally.true).toBeGreaterThan(200);
    expect(tally.false).toBeGreaterThan(200);
    expect(tally.error).toBeGreaterThan(100);
  });
});

describe('forms outside the subset', () => {
  it.each(Object.keys(OUTSIDE))('%s is not compiled, alone or beside compiled policies', (name) => {
    const outside = qual(name);
    expect(compilePolicySet({ permissive: [outside], restrictive: [] }, TABLE, auth)).toBeNull();
    expect(compilePolicySet({ permissive: [qual('uid')], restrictive: [outside] }, TABLE, auth)).toBeNull();
    expect(
      compilePolicySet({ permissive: [qual('always'), outside], restrictive: [] }, TABLE, auth),
    ).toBeNull();
  });

  it('a redefined auth helper leaves the policies calling it to the database', async () => {
    await sql(
      backends.pg.url,
      `create or replace function auth.email() returns text language sql stable
         as $$ select current_setting('request.jwt.claims', true)::jsonb ->> 'mail' $$`,
    );
    const redefined = authFunctionsFromRows(
      (await sql(backends.pg.url, AUTH_FUNCTIONS_QUERY)) as unknown as AuthFunctionRow[],
    );
    expect(compilePolicySet({ permissive: [qual('email')], restrictive: [] }, TABLE, redefined)).toBeNull();
    expect(compilePolicySet({ permissive: [qual('uid')], restrictive: [] }, TABLE, redefined)).not.toBeNull();
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
    const setFor = async (role: string): Promise<PolicySet> => {
      const client = new Client({ connectionString: backends.pg.url });
      await client.connect();
      try {
        const { rows } = await client.query(POLICIES_QUERY, ['"public"."roles_demo"', role]);
        return policySetFromRows(rows as unknown as PolicyRow[]);
      } finally {
        await client.end();
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
