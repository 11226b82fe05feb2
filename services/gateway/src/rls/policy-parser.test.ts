import { PolicySyntaxError, parsePolicyExpr } from './policy-parser';

// Texts as PostgreSQL 15's pg_policies.qual prints them for the policies written beside them.
describe('parsePolicyExpr', () => {
  it('reads a comparison with auth.uid()', () => {
    // using (auth.uid() = owner)
    expect(parsePolicyExpr('(auth.uid() = owner)')).toEqual({
      kind: 'op',
      op: '=',
      left: { kind: 'call', name: 'auth.uid', args: [] },
      right: { kind: 'column', name: 'owner' },
    });
  });

  it('reads the (select auth.uid()) form as a subselect', () => {
    expect(parsePolicyExpr('(( SELECT auth.uid() AS uid) = owner)')).toEqual({
      kind: 'op',
      op: '=',
      left: { kind: 'subselect', expr: { kind: 'call', name: 'auth.uid', args: [] } },
      right: { kind: 'column', name: 'owner' },
    });
  });

  it('reads IN lists, casts and AND/OR chains', () => {
    // using (team in ('a', 'b') or n in (1,2,3))
    expect(
      parsePolicyExpr("((team = ANY (ARRAY['a'::text, 'b'::text])) OR (n = ANY (ARRAY[1, 2, 3])))"),
    ).toEqual({
      kind: 'or',
      args: [
        {
          kind: 'array-op',
          op: '=',
          quantifier: 'ANY',
          left: { kind: 'column', name: 'team' },
          items: [
            { kind: 'cast', type: 'text', expr: { kind: 'literal', text: 'a', isString: true } },
            { kind: 'cast', type: 'text', expr: { kind: 'literal', text: 'b', isString: true } },
          ],
        },
        {
          kind: 'array-op',
          op: '=',
          quantifier: 'ANY',
          left: { kind: 'column', name: 'n' },
          items: ['1', '2', '3'].map((text) => ({ kind: 'literal', text, isString: false })),
        },
      ],
    });
  });

  it('reads current_setting casts, arrows, IS tests and NOT', () => {
    expect(
      parsePolicyExpr(
        "((((current_setting('request.jwt.claims'::text, true))::jsonb -> 'app'::text) ->> 'team'::text) IS NOT NULL)",
      ),
    ).toEqual({
      kind: 'test',
      test: 'null',
      negated: true,
      arg: {
        kind: 'op',
        op: '->>',
        left: {
          kind: 'op',
          op: '->',
          left: {
            kind: 'cast',
            type: 'jsonb',
            expr: {
              kind: 'call',
              name: 'current_setting',
              args: [
                {
                  kind: 'cast',
                  type: 'text',
                  expr: { kind: 'literal', text: 'request.jwt.claims', isString: true },
                },
                { kind: 'bool', value: true },
              ],
            },
          },
          right: { kind: 'cast', type: 'text', expr: { kind: 'literal', text: 'app', isString: true } },
        },
        right: { kind: 'cast', type: 'text', expr: { kind: 'literal', text: 'team', isString: true } },
      },
    });
    expect(parsePolicyExpr('(NOT (flag IS NULL))')).toEqual({
      kind: 'not',
      arg: { kind: 'test', test: 'null', negated: false, arg: { kind: 'column', name: 'flag' } },
    });
  });

  it('keeps quoted identifiers, doubled quotes and unicode in literals', () => {
    expect(parsePolicyExpr(`("Owner Id" = 'it''s é ☃'::text)`)).toEqual({
      kind: 'op',
      op: '=',
      left: { kind: 'column', name: 'Owner Id' },
      right: { kind: 'cast', type: 'text', expr: { kind: 'literal', text: "it's é ☃", isString: true } },
    });
  });

  it('reads COALESCE and IS DISTINCT FROM', () => {
    expect(parsePolicyExpr("(NOT (COALESCE(team, 'z'::text) IS DISTINCT FROM NULL::text))")).toEqual({
      kind: 'not',
      arg: {
        kind: 'distinct',
        negated: false,
        left: {
          kind: 'coalesce',
          args: [
            { kind: 'column', name: 'team' },
            { kind: 'cast', type: 'text', expr: { kind: 'literal', text: 'z', isString: true } },
          ],
        },
        right: { kind: 'cast', type: 'text', expr: { kind: 'null' } },
      },
    });
  });

  it('reads multi-word type names', () => {
    expect(parsePolicyExpr("(at > '2024-01-01 00:00:00+00'::timestamp with time zone)")).toMatchObject({
      right: { kind: 'cast', type: 'timestamp with time zone' },
    });
  });

  it.each([
    ["(name ~~ 'a%'::text)"], // LIKE
    ['(id IN ( SELECT 1))'], // a subquery with IN
    ['(EXISTS ( SELECT 1 FROM other o WHERE (o.id = t.id)))'],
    ['(t.owner = auth.uid())'], // qualified column
    ['((n + 1) = 2)'],
    ['(n = 5.5)'],
    ["(name = 'x'"],
    ['CASE WHEN flag THEN true ELSE false END'],
    ['(name IS DISTINCT name)'],
    ['COALESCE'],
    ["(n = ANY ('{1,2}'::integer[]))"],
    ["(E'a\\\\b'::text = name)"],
  ])('refuses %s', (text) => {
    expect(() => parsePolicyExpr(text)).toThrow(PolicySyntaxError);
  });
});
