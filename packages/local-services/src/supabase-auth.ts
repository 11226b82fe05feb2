/**
 * Supabase's auth environment for a throwaway database (the tests', `pnpm dev`'s): the API roles,
 * the `auth` schema and the `auth.uid()`, `auth.role()`, `auth.email()` and `auth.jwt()` helpers
 * with the bodies Supabase Auth's migrations create today (each `set search_path to ''`,
 * `language sql stable`), plus the grants a Supabase project has on them. Row-level security
 * policies written for Supabase run unchanged against a database set up with it.
 *
 * Idempotent: roles are created only when missing, the schema and functions with `if not exists` /
 * `or replace`, so several test files (or a cluster reused across tests) can apply it.
 * Run them as a superuser: `sql(url, ...SUPABASE_AUTH_SQL)` in tests.
 */

/** The statements, in order. */
export const SUPABASE_AUTH_SQL: readonly string[] = [
  `do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
end
$$`,
  'create schema if not exists auth',
  `create or replace function auth.uid()
    returns uuid
    set search_path to ''
as $func$
  select
    coalesce(
      nullif(current_setting('request.jwt.claim.sub', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
    )::uuid
$func$ language sql stable`,
  `create or replace function auth.role()
    returns text
    set search_path to ''
as $func$
  select
    coalesce(
      nullif(current_setting('request.jwt.claim.role', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
    )::text
$func$ language sql stable`,
  `create or replace function auth.email()
    returns text
    set search_path to ''
as $func$
  select
    coalesce(
      nullif(current_setting('request.jwt.claim.email', true), ''),
      (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
    )::text
$func$ language sql stable`,
  `create or replace function auth.jwt()
    returns jsonb
    set search_path to ''
as $func$
  select
    coalesce(
      nullif(current_setting('request.jwt.claim', true), ''),
      nullif(current_setting('request.jwt.claims', true), '')
    )::jsonb
$func$ language sql stable`,
  'grant usage on schema auth to anon, authenticated, service_role',
  'grant execute on all functions in schema auth to anon, authenticated, service_role',
  'grant usage on schema public to anon, authenticated, service_role',
];
