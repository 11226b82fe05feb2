/**
 * Compiles a table's SELECT policies for one role into an in-memory predicate that gives, for
 * every row and JWT claims, the verdict PostgreSQL gives for
 *
 *   `((p1) OR (p2) …) IS TRUE AND ((r1) IS TRUE) AND …`
 *
 * (permissive `p`, restrictive `r`; `false` without a permissive policy) evaluated over
 * `jsonb_populate_record(null::<table>, <row>)` with the settings of jwt-settings.ts. When any
 * policy is outside the subset below, nothing is compiled (null) and the database decides.
 *
 * The subset (as `pg_get_expr` prints it):
 * - columns of type uuid, text, int2, int4, int8 and bool; a column of any other type only under
 *   `IS [NOT] NULL`; varchar columns only as `(col)::text`;
 * - constants: `'…'::text`, `'…'::uuid`, `'…'::integer|bigint|smallint`, `'…'::boolean`, bare
 *   integers, `true`, `false`, `NULL`;
 * - `auth.uid()`, `auth.role()`, `auth.email()`, `auth.jwt()` when the database's definitions are
 *   Supabase's (auth-functions.ts), also as `( SELECT auth.uid() AS uid)`;
 * - `current_setting('request.jwt.claims' | 'request.jwt.claim.sub' | 'request.jwt.claim.role'
 *   [, true|false])`, cast `::json` or `::jsonb` for the claims;
 * - `->` and `->>` with a `'…'::text` key on json/jsonb;
 * - casts text → uuid, text → boolean, uuid|boolean|integer|varchar → text, between integer
 *   widths, and text → integer when the server is PostgreSQL 12 to 15 (16 reads more forms);
 * - `=` and `<>` on two values of the same type (uuid, text, integers, boolean); `<`, `<=`, `>`,
 *   `>=` on uuids and integers (never on text: its order depends on the collation);
 * - `x = ANY (ARRAY[constants])` and `x <> ALL (ARRAY[constants])` (`IN` / `NOT IN` lists);
 * - `AND`, `OR`, `NOT`, `IS [NOT] NULL|TRUE|FALSE|UNKNOWN`, `IS [NOT] DISTINCT FROM` (same types
 *   as `=`), `COALESCE` of one type, `( SELECT expr)`.
 *
 * Exactness: three-valued logic; `AND`/`OR` evaluate left to right and stop as PostgreSQL's
 * executor does, after the planner's constant folding (constant `true`/`false` arguments decide or
 * vanish, a strict operator with a NULL constant argument is NULL without evaluating the other);
 * where PostgreSQL raises (a `sub` that is not a uuid cast to uuid, claims JSON with `\u0000`, a
 * setting that cannot be sent) the verdict is `{ error }`. Integers are compared as BigInt, so
 * int8 values beyond 2^53 must arrive as their decimal text: build the row with policyRow().
 * Rows are taken to be as the ingester encodes them (every value valid for its column's type).
 * What a predicate derives from a claims object is cached per object: claims must not be mutated.
 * Text equality is collation-independent only for deterministic collations (PostgreSQL's
 * default); a column with a nondeterministic collation must not be given to this compiler.
 *
 * What the database path must hold for the verdicts to agree (true of Supabase's API roles and
 * defaults): the role may use the table's schema and `auth` and execute the helpers (otherwise
 * PostgreSQL raises "permission denied" where the predicate decides); `request.jwt.claim` and
 * `request.jwt.claim.email` are not set by database or role settings; the settings are the ones
 * jwtSettings() gives; the policy texts come from TABLE_ACCESS_SQL (table-access.ts) in a session
 * whose search_path does not hold `auth` (else the calls print unqualified and do not compile).
 */
import type { Row } from '@walcast/protocol';

import type { AuthFunctions } from './auth-functions';
import { ExpressionCompiler, type TableShape } from './expression-compiler';
import { type PolicyExpr, PolicySyntaxError, parsePolicyExpr } from './policy-parser';
import { EvalContext, type Node, NotCompilable, factsOf } from './predicate-nodes';
import { SqlError } from './sql-values';

export type Verdict = true | false | { error: string };
export interface PolicySet {
  permissive: string[];
  restrictive: string[];
}
export type { TableShape } from './expression-compiler';
export type { AuthFunctions } from './auth-functions';
export type RowPredicate = (row: Row, claims: Readonly<Record<string, unknown>>) => Verdict;

/** A predicate equal to the SQL above for every row and claims, or null when any policy is outside the subset. */
export function compilePolicySet(
  set: PolicySet,
  shape: TableShape,
  auth: AuthFunctions,
): RowPredicate | null {
  const result = compilePolicySetExplained(set, shape, auth);
  return 'predicate' in result ? result.predicate : null;
}

/** {@link compilePolicySet}'s result, or why the set is not compiled (for logs). */
export type PolicyCompilation = { predicate: RowPredicate } | { notCompiled: string };

/** As {@link compilePolicySet}, saying which policy is outside the subset and why. */
export function compilePolicySetExplained(
  set: PolicySet,
  shape: TableShape,
  auth: AuthFunctions,
): PolicyCompilation {
  const compiler = new ExpressionCompiler(shape, auth);
  const compileOne = (qual: string, label: string): Node | string => {
    try {
      const node = compiler.compile(parsePolicyExpr(qual));
      return node.type === 'bool' ? node : `${label}: not a boolean expression`;
    } catch (err) {
      if (err instanceof PolicySyntaxError || err instanceof NotCompilable || err instanceof SqlError) {
        return `${label}: ${err.message}`;
      }
      throw err;
    }
  };
  // Each policy alone first, to name the one outside the subset; then the whole expression.
  const labelled = [
    ...set.permissive.map((q, i) => [q, `permissive policy ${i + 1}`] as const),
    ...set.restrictive.map((q, i) => [q, `restrictive policy ${i + 1}`] as const),
  ];
  for (const [qual, label] of labelled) {
    const one = compileOne(qual, label);
    if (typeof one === 'string') return { notCompiled: one };
  }
  const permissive: PolicyExpr =
    set.permissive.length === 0
      ? { kind: 'bool', value: false }
      : { kind: 'or', args: set.permissive.map(parsePolicyExpr) };
  const combined: PolicyExpr = {
    kind: 'and',
    args: [
      { kind: 'test', arg: permissive, test: 'true', negated: false },
      ...set.restrictive.map(
        (r): PolicyExpr => ({ kind: 'test', arg: parsePolicyExpr(r), test: 'true', negated: false }),
      ),
    ],
  };
  let node: Node;
  try {
    node = compiler.compile(combined);
  } catch (err) {
    if (err instanceof NotCompilable || err instanceof SqlError) return { notCompiled: err.message };
    throw err;
  }
  const predicate: RowPredicate = (row, claims) => {
    const facts = factsOf(claims);
    if (facts.unsendable) return { error: 'invalid byte sequence for encoding "UTF8": 0x00' };
    try {
      return node.run(new EvalContext(row, claims, facts)) === true;
    } catch (err) {
      if (err instanceof SqlError) return { error: err.message };
      throw err;
    }
  };
  return { predicate };
}
