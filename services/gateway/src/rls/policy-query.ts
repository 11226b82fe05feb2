/**
 * Reads the policies that decide what a role sees of a table: the {@link PolicySet} the compiler
 * and the database path take. As PostgreSQL applies them to a SELECT: policies `FOR SELECT` or
 * `FOR ALL` with a `USING` expression (one with only `WITH CHECK` adds nothing), for `PUBLIC` or a
 * role whose privileges the role has (`pg_has_role(…, 'USAGE')`: membership through `INHERIT`),
 * ordered by name as PostgreSQL orders them. Whether the table has row security enabled and
 * whether the role bypasses it are separate questions.
 */
import type { PolicySet } from './policy-compiler';

/** `$1`: the table as regclass text (`"public"."docs"`); `$2`: the role name. */
export const POLICIES_QUERY = `select pol.polname as name,
       pol.polpermissive as permissive,
       pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) as qual
  from pg_catalog.pg_policy pol
 where pol.polrelid = $1::regclass
   and pol.polcmd in ('r', '*')
   and pol.polqual is not null
   and (pol.polroles = '{0}'
        or exists (select from unnest(pol.polroles) r where r <> 0 and pg_catalog.pg_has_role($2, r, 'USAGE')))
 order by pol.polname`;

/** One row of {@link POLICIES_QUERY}. */
export interface PolicyRow {
  name: string;
  permissive: boolean;
  qual: string;
}

/** The {@link PolicySet} from the rows of {@link POLICIES_QUERY}, in their order. */
export function policySetFromRows(rows: readonly PolicyRow[]): PolicySet {
  return {
    permissive: rows.filter((r) => r.permissive).map((r) => r.qual),
    restrictive: rows.filter((r) => !r.permissive).map((r) => r.qual),
  };
}
