import type { Row } from '@walcast/protocol';

import { SUPABASE_AUTH_FUNCTIONS } from './auth-functions';
import {
  type PolicySet,
  type TableShape,
  compilePolicySet,
  compilePolicySetExplained,
} from './policy-compiler';

// Verdicts worked out from PostgreSQL's rules; policy-compiler.int.test.ts checks the same
// predicates against a real PostgreSQL on generated rows and claims.
const SHAPE: TableShape = {
  schema: 'public',
  table: 'docs',
  columns: [
    { name: 'owner', type: 'uuid' },
    { name: 'team', type: 'text' },
    { name: 'n', type: 'int4' },
    { name: 'big', type: 'int8' },
    { name: 'flag', type: 'bool' },
    { name: 'at', type: 'timestamptz' },
  ],
};
const U1 = '11111111-1111-1111-1111-111111111111';
const UID = '(auth.uid() = owner)';

function compile(permissive: string[], restrictive: string[] = []) {
  const set: PolicySet = { permissive, restrictive };
  const predicate = compilePolicySet(set, SHAPE, SUPABASE_AUTH_FUNCTIONS);
  if (predicate === null) throw new Error('not compiled');
  return predicate;
}

function verdict(predicate: ReturnType<typeof compile>, row: Row, claims: Record<string, unknown>) {
  const v = predicate(row, claims);
  return typeof v === 'object' ? 'error' : v;
}

describe('compiled policies', () => {
  it('auth.uid() = owner: case-insensitive uuid input, NULL for a missing sub, an error for a bad one', () => {
    const p = compile([UID]);
    expect(verdict(p, { owner: U1 }, { sub: U1.toUpperCase() })).toBe(true);
    expect(verdict(p, { owner: U1 }, { sub: `{${U1.replace(/-/g, '')}}` })).toBe(true);
    expect(verdict(p, { owner: U1 }, {})).toBe(false);
    expect(verdict(p, { owner: U1 }, { sub: null })).toBe(false);
    expect(verdict(p, {}, { sub: U1 })).toBe(false); // owner absent = NULL
    expect(verdict(p, { owner: U1 }, { sub: 'user-1' })).toBe('error');
    expect(verdict(p, { owner: U1 }, { sub: '' })).toBe('error'); // '' falls back to claims ->> 'sub' = ''
    expect(verdict(p, { owner: U1 }, { sub: 5 })).toBe('error');
  });

  it('the (select auth.uid()) form behaves the same', () => {
    const p = compile(['(( SELECT auth.uid() AS uid) = owner)']);
    expect(verdict(p, { owner: U1 }, { sub: U1 })).toBe(true);
    expect(verdict(p, { owner: U1 }, { sub: 'x' })).toBe('error');
  });

  it('AND and OR stop where PostgreSQL stops, after folding constants', () => {
    const claims = { sub: 'not-a-uuid' };
    expect(verdict(compile([`((flag IS TRUE) AND ${UID})`]), { flag: false }, claims)).toBe(false);
    expect(verdict(compile([`((flag IS TRUE) AND ${UID})`]), { flag: true }, claims)).toBe('error');
    expect(verdict(compile([`(${UID} OR true)`]), {}, claims)).toBe(true); // folded: uid never runs
    expect(verdict(compile([`(${UID} AND false)`]), {}, claims)).toBe(false);
    expect(verdict(compile(['(auth.uid() = NULL::uuid)']), {}, claims)).toBe(false); // strict, folded to NULL
    expect(verdict(compile([`(flag OR ${UID})`]), { flag: true }, claims)).toBe(true);
  });

  it('restrictive policies run only when a permissive one passed', () => {
    const p = compile(['flag'], [UID]);
    expect(verdict(p, { flag: false }, { sub: 'bad' })).toBe(false);
    expect(verdict(p, { flag: true }, { sub: 'bad' })).toBe('error');
    expect(verdict(p, { flag: true, owner: U1 }, { sub: U1 })).toBe(true);
    expect(verdict(compile([], ['true']), {}, {})).toBe(false); // no permissive policy
  });

  it('three-valued logic: NOT NULL is NULL, IS NOT TRUE is true for NULL', () => {
    expect(verdict(compile(['(NOT flag)']), {}, {})).toBe(false);
    expect(verdict(compile(['(flag IS NOT TRUE)']), {}, {})).toBe(true);
    expect(verdict(compile(["(team <> ALL (ARRAY['a'::text, NULL::text]))"]), { team: 'b' }, {})).toBe(false);
    expect(verdict(compile(["(team = ANY (ARRAY['a'::text, NULL::text]))"]), { team: 'a' }, {})).toBe(true);
  });

  it('COALESCE stops at the first non-NULL argument and folds as the planner does', () => {
    const bad = { sub: 'bad' };
    expect(verdict(compile(["COALESCE(((auth.jwt() ->> 'a'::text))::boolean, false)"]), {}, {})).toBe(false);
    expect(verdict(compile([`COALESCE(flag, ${UID})`]), { flag: true }, bad)).toBe(true);
    expect(verdict(compile([`COALESCE(flag, ${UID})`]), {}, bad)).toBe('error');
    expect(verdict(compile([`(${UID} AND COALESCE(NULL::boolean, false))`]), {}, bad)).toBe(false); // folded
  });

  it('IS DISTINCT FROM treats NULL as a value', () => {
    const p = compile(["(NOT (team IS DISTINCT FROM (auth.jwt() ->> 'team'::text)))"]);
    expect(verdict(p, {}, {})).toBe(true);
    expect(verdict(p, { team: 'a' }, {})).toBe(false);
    expect(verdict(p, { team: 'a' }, { team: 'a' })).toBe(true);
  });

  it('reads claims through auth.jwt(), as jsonb prints them', () => {
    const p = compile(["((auth.jwt() ->> 'team'::text) = team)"]);
    expect(verdict(p, { team: 'a' }, { team: 'a' })).toBe(true);
    expect(verdict(p, { team: '1000000000000000000000' }, { team: 1e21 })).toBe(true);
    expect(verdict(p, { team: '{"a": 1, "bb": 2}' }, { team: { bb: 2, a: 1 } })).toBe(true);
    expect(verdict(p, { team: 'a' }, {})).toBe(false);
    expect(verdict(p, { team: 'a' }, { team: 'a', other: 'x\u0000' })).toBe('error'); // jsonb refuses \u0000
  });

  it('reads claims through current_setting(…)::json, as json prints them', () => {
    const p = compile([
      "(((current_setting('request.jwt.claims'::text, true))::json ->> 'team'::text) = team)",
    ]);
    expect(verdict(p, { team: '1e+21' }, { team: 1e21 })).toBe(true);
    expect(verdict(p, { team: '{"bb":2,"a":1}' }, { team: { bb: 2, a: 1 } })).toBe(true);
  });

  it('auth.role() prefers the role setting, auth.email() reads the claims', () => {
    const p = compile(["(auth.role() = 'authenticated'::text)"]);
    expect(verdict(p, {}, { role: 'authenticated' })).toBe(true);
    expect(verdict(p, {}, { role: 'anon' })).toBe(false);
    expect(verdict(compile(['(auth.email() = team)']), { team: 'x@y' }, { email: 'x@y' })).toBe(true);
  });

  it('reads only the row’s own members: a column may be called constructor', () => {
    const shape: TableShape = {
      schema: 'public',
      table: 'odd',
      columns: [{ name: 'constructor', type: 'text' }],
    };
    const p = compilePolicySet(
      { permissive: ['(constructor IS NULL)'], restrictive: [] },
      shape,
      SUPABASE_AUTH_FUNCTIONS,
    );
    expect(p?.({}, {})).toBe(true);
  });

  it('claims nested beyond what a parser’s stack holds are an error, not an exception', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(verdict(compile(["((auth.jwt() ->> 'team'::text) = team)"]), { team: 'a' }, { deep })).toBe(
      'error',
    );
  });

  it('a U+0000 in sub or role cannot be sent: every verdict is an error', () => {
    expect(verdict(compile(['true']), {}, { role: 'a\u0000' })).toBe('error');
  });

  it('compares integers exactly, int8 beyond 2^53 given as decimal text', () => {
    const p = compile(["(big = '9007199254740993'::bigint)"]);
    expect(verdict(p, { big: '9007199254740993' }, {})).toBe(true);
    expect(verdict(p, { big: '9007199254740992' }, {})).toBe(false);
    expect(verdict(compile(['((big)::integer = n)']), { big: 2 ** 31, n: 1 }, {})).toBe('error');
    expect(verdict(compile(['(n > 5)']), { n: 6 }, {})).toBe(true);
  });

  it('boolean claims follow boolin', () => {
    const p = compile(["((auth.jwt() ->> 'is_admin'::text))::boolean"]);
    expect(verdict(p, {}, { is_admin: ' YES ' })).toBe(true);
    expect(verdict(p, {}, { is_admin: true })).toBe(true);
    expect(verdict(p, {}, { is_admin: 'of' })).toBe(false);
    expect(verdict(p, {}, { is_admin: 'o' })).toBe('error');
  });

  it.each([
    ["(team ~~ 'a%'::text)"],
    ["(team < 'b'::text)"], // depends on the collation
    ["(at > '2024-01-01 00:00:00+00'::timestamp with time zone)"],
    ['(at IS NULL) AND (lower(team) = team)'],
    ['(missing = 1)'],
    ['(n = team)'],
    ["(current_setting('request.jwt.claim.email'::text, true) = team)"],
    ['(public.uid() = owner)'],
    ["(team = ANY (ARRAY[team, 'a'::text]))"],
    ['n'], // not a boolean
  ])('does not compile %s', (qual) => {
    expect(
      compilePolicySet({ permissive: ['true'], restrictive: [qual] }, SHAPE, SUPABASE_AUTH_FUNCTIONS),
    ).toBeNull();
  });

  it('casts claims to integers by PostgreSQL 15’s rules, and only for a server known to have them', () => {
    const qual = "(n = ((auth.jwt() ->> 'n'::text))::integer)";
    const p = compile([qual]);
    expect(verdict(p, { n: 12 }, { n: ' +12 ' })).toBe(true);
    expect(verdict(p, { n: 12 }, { n: 12 })).toBe(true);
    expect(verdict(p, { n: 1000 }, { n: '1_000' })).toBe('error');
    expect(verdict(p, { n: 1 }, { n: 2 ** 31 })).toBe('error');
    for (const serverVersionNum of [160000, null]) {
      const auth = { ...SUPABASE_AUTH_FUNCTIONS, serverVersionNum };
      expect(compilePolicySet({ permissive: [qual], restrictive: [] }, SHAPE, auth)).toBeNull();
    }
  });

  it('says which policy is outside the subset and why', () => {
    const set = { permissive: [UID, "(team ~~ 'a%'::text)"], restrictive: ['(lower(team) = team)'] };
    expect(compilePolicySetExplained(set, SHAPE, SUPABASE_AUTH_FUNCTIONS)).toEqual({
      notCompiled: 'permissive policy 2: unsupported operator ~~',
    });
    expect(
      compilePolicySetExplained(
        { permissive: [UID], restrictive: ['(lower(team) = team)'] },
        SHAPE,
        SUPABASE_AUTH_FUNCTIONS,
      ),
    ).toEqual({
      notCompiled: 'restrictive policy 1: function lower',
    });
  });

  it('does not compile helpers that are not Supabase’s', () => {
    const custom = { ...SUPABASE_AUTH_FUNCTIONS, uid: "select '11111111-1111-1111-1111-111111111111'::uuid" };
    expect(compilePolicySet({ permissive: [UID], restrictive: [] }, SHAPE, custom)).toBeNull();
    expect(
      compilePolicySet({ permissive: ['(auth.role() = team)'], restrictive: [] }, SHAPE, custom),
    ).not.toBeNull();
  });
});
