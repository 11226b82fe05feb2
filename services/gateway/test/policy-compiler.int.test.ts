// Differential test of compiled row-level security policies: for policy sets over tables with
// uuid/text/int2/int4/int8/bool/varchar/timestamptz columns, the compiled predicate's verdict must
// equal PostgreSQL's for thousands of generated (row, claims) pairs, evaluated exactly as the
// database path does (one transaction per check, Supabase's auth helpers installed, both as
// Supabase defines them today and with the 2022 bodies, which PostgreSQL inlines).
import fc from 'fast-check';
import { SUPABASE_AUTH_SQL, sql, startBackends, type Backends } from '@walcast/test-utils';

import type { AuthFunctions } from '../src/rls/auth-functions';
import { compilePolicySet, type PolicySet, type TableShape } from '../src/rls/policy-compiler';
import { policyRow } from '../src/rls/policy-row';
import {
  Client,
  DOCS,
  DOCS_DDL,
  type PgClient,
  claimsArb,
  column,
  createPolicies,
  databaseVerdict,
  readAuthFunctions,
  recordArb,
  same,
  text,
  uuid,
} from './policy-support';

jest.setTimeout(120_000);

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

let backends: Backends;
let client: PgClient;
/** A second database whose helpers have the 2022 bodies, without `set search_path`, which PostgreSQL inlines. */
let inlinedClient: PgClient;
let inlinedAuth: AuthFunctions;
const INLINED_AUTH_SQL = SUPABASE_AUTH_SQL.map((statement) =>
  statement.replace(/\n\s*set search_path to ''/, ''),
);
let auth: AuthFunctions;
/** pg_policies.qual of each policy, as the database printed it. */
let quals = new Map<string, string>();

/** The printed qual of a policy created in beforeAll. */
function qual(name: string): string {
  const text = quals.get(name);
  if (text === undefined) throw new Error(`no policy ${name}`);
  return text;
}

beforeAll(async () => {
  backends = await startBackends();
  const url = backends.pg.url;
  await sql(
    url,
    ...SUPABASE_AUTH_SQL,
    DOCS_DDL,
    'create table public."Mixed Case" (id int4 primary key, "Owner" uuid, "note text" text)',
    'grant select on all tables in schema public to anon, authenticated',
  );
  quals = new Map([
    ...(await createPolicies(url, 'public.docs', POLICIES)),
    ...(await createPolicies(url, 'public."Mixed Case"', MIXED_POLICIES)),
  ]);
  auth = await readAuthFunctions(url);
  client = new Client({ connectionString: url });
  await client.connect();

  await sql(url, 'create database inlined');
  const inlinedUrl = url.replace(/\/postgres$/, '/inlined');
  await sql(inlinedUrl, ...INLINED_AUTH_SQL, DOCS_DDL);
  inlinedAuth = await readAuthFunctions(inlinedUrl);
  inlinedClient = new Client({ connectionString: inlinedUrl });
  await inlinedClient.connect();
});

afterAll(async () => {
  await client?.end();
  await inlinedClient?.end();
  await backends?.stop();
});

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
        permissive: permissiveNames.map(qual),
        restrictive: restrictiveNames.map(qual),
      };
      const predicate = compilePolicySet(set, DOCS, auth);
      expect(predicate).not.toBeNull();
      await fc.assert(
        fc.asyncProperty(recordArb, claimsArb, async (record, claims) => {
          const compiled = predicate!(record.row, claims);
          const database = await databaseVerdict(client, DOCS, set, 'authenticated', record.json, claims);
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
      const predicate = compilePolicySet(set, DOCS, inlinedAuth);
      expect(predicate).not.toBeNull();
      await fc.assert(
        fc.asyncProperty(recordArb, claimsArb, async (record, claims) => {
          const compiled = predicate!(record.row, claims);
          const database = await databaseVerdict(
            inlinedClient,
            DOCS,
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
