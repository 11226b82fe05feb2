// Shared by the row-level security integration tests: the database path's statements (the
// reference the compiled predicates are checked against), a test table, generators of records and
// claims, and a node-postgres client (pg is a dependency of test-utils). Not a test file itself.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import fc from 'fast-check';
import { sql } from '@walcast/test-utils';

import {
  AUTH_FUNCTIONS_QUERY,
  authFunctionsFromRows,
  type AuthFunctionRow,
  type AuthFunctions,
} from '../src/rls/auth-functions';
import { jwtSettings } from '../src/rls/jwt-settings';
import type { PolicySet, TableShape, Verdict } from '../src/rls/policy-compiler';
import { policyRow } from '../src/rls/policy-row';

/** The part of node-postgres's Client the test uses (pg is a dependency of test-utils). */
export interface PgClient {
  connect(): Promise<void>;
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
}
const requireFromTestUtils = createRequire(resolve(__dirname, '../../../packages/test-utils/package.json'));
export const { Client } = requireFromTestUtils('pg') as {
  Client: new (opts: { connectionString: string }) => PgClient;
};

/** public.docs: a column of each compiled type, plus timestamptz (only ever tested for NULL). */
export const DOCS_DDL = `create table public.docs (id int8 primary key, owner uuid, team text, n int4, big int8,
  small int2, flag bool, at timestamptz, label varchar(20))`;

export const DOCS: TableShape = {
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
export const UUIDS = [
  '11111111-1111-1111-1111-111111111111',
  '22222222-2222-2222-2222-222222222222',
  'a0000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
];
export const TEXTS = [
  'a',
  'b',
  'A',
  '',
  'é☃',
  ' a',
  'a\u0301',
  '😀',
  'anon',
  'authenticated',
  'x@example.com',
];

/** A column value: absent from the record, JSON null, or a value. */
export function column<T>(value: fc.Arbitrary<T>): fc.Arbitrary<T | null | undefined> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constant(null) },
    {
      weight: 6,
      arbitrary: value,
    },
  );
}

export const int8 = fc.oneof(
  fc.constantFrom(9007199254740993n, 9007199254740992n, 1n, -2n, 10000000000n, 5n, 6n, 0n, 2147483648n),
  fc.constantFrom(-9223372036854775808n, 9223372036854775807n, -2147483648n, 2147483647n),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.bigInt({ min: -10n, max: 10n }),
);
export const int4 = fc.oneof(
  fc.integer({ min: -3, max: 8 }),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
);
export const int2 = fc.oneof(fc.integer({ min: 95, max: 105 }), fc.integer({ min: -32768, max: 32767 }));
export const text = fc.oneof(fc.constantFrom(...TEXTS), fc.string({ unit: 'grapheme', maxLength: 6 }));
export const uuid = fc.oneof(fc.constantFrom(...UUIDS), fc.uuid());

/** A public.docs record as the ingester encodes it (`json`) and as the predicate receives it (`row`). */
export const recordArb = fc
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
export const claimsArb = fc
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

/** A double-quoted identifier. */
export function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The contract's `<combined>`: `(((p1) OR …) IS TRUE) AND ((r1) IS TRUE) AND …`. */
export function combinedSql(set: PolicySet): string {
  const permissive = set.permissive.length === 0 ? 'false' : set.permissive.map((p) => `(${p})`).join(' OR ');
  return [`((${permissive}) IS TRUE)`, ...set.restrictive.map((r) => `((${r}) IS TRUE)`)].join(' AND ');
}

/** PostgreSQL's verdict, by the database path's statements. */
export async function databaseVerdict(
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

/** Equal verdicts (any error equals any error). */
export function same(a: Verdict, b: Verdict): boolean {
  return typeof a === 'object' ? typeof b === 'object' : a === b;
}

/** Creates policies `name using (expr)` on `table` and returns each one's printed qual by name. */
export async function createPolicies(
  url: string,
  table: string,
  policies: Record<string, string>,
): Promise<Map<string, string>> {
  await sql(
    url,
    ...Object.entries(policies).map(
      ([name, using]) => `create policy ${quote(name)} on ${table} using (${using})`,
    ),
  );
  const quals = new Map<string, string>();
  for (const row of await sql(url, 'select policyname, qual from pg_policies')) {
    if ((row['policyname'] as string) in policies)
      quals.set(row['policyname'] as string, row['qual'] as string);
  }
  return quals;
}

/** The database's {@link AuthFunctions}, read with AUTH_FUNCTIONS_QUERY. */
export async function readAuthFunctions(url: string): Promise<AuthFunctions> {
  return authFunctionsFromRows((await sql(url, AUTH_FUNCTIONS_QUERY)) as unknown as AuthFunctionRow[]);
}
