/**
 * Which of Supabase's helpers `auth.uid()`, `auth.jwt()`, `auth.role()` and `auth.email()` a
 * database has, and whether they are Supabase's own: a policy calling one compiles only when its
 * body is, after normalising case and whitespace outside string literals, the body Supabase Auth
 * creates (`language sql`, the right result type, no settings other than `search_path`). A
 * redefined helper leaves every policy that calls it to the database.
 *
 * With the settings the database path sets (`request.jwt.claims`, `request.jwt.claim.sub`,
 * `request.jwt.claim.role`, see jwt-settings.ts) Supabase's bodies mean:
 * - `auth.uid()`   = `coalesce(nullif(sub, ''), claims ->> 'sub')::uuid`
 * - `auth.role()`  = `coalesce(nullif(role, ''), claims ->> 'role')`
 * - `auth.email()` = `claims ->> 'email'` (`request.jwt.claim.email` is never set)
 * - `auth.jwt()`   = `claims::jsonb` (`request.jwt.claim` is never set)
 */

/**
 * The four helpers' bodies (`pg_proc.prosrc`), each null when absent or not a plain SQL function,
 * and the server's `server_version_num`, which decides the input rules of casts (null: unknown).
 */
export interface AuthFunctions {
  uid: string | null;
  jwt: string | null;
  role: string | null;
  email: string | null;
  serverVersionNum: number | null;
}

export type AuthFunctionName = 'uid' | 'jwt' | 'role' | 'email';

/**
 * Reads what {@link authFunctionsFromRows} needs; run it on the database the policies live in.
 * Always one row at least (the version), plus one per helper found.
 */
export const AUTH_FUNCTIONS_QUERY = `select v.server_version_num, f.name, f.language, f.result, f.returns_set, f.config, f.src
  from (select pg_catalog.current_setting('server_version_num')::int as server_version_num) v
  left join (select p.proname as name,
                    l.lanname as language,
                    pg_catalog.format_type(p.prorettype, null) as result,
                    p.proretset as returns_set,
                    p.proconfig as config,
                    p.prosrc as src
               from pg_catalog.pg_proc p
               join pg_catalog.pg_namespace n on n.oid = p.pronamespace
               join pg_catalog.pg_language l on l.oid = p.prolang
              where n.nspname = 'auth'
                and p.proname in ('uid', 'jwt', 'role', 'email')
                and p.pronargs = 0) f on true`;

/** One row of {@link AUTH_FUNCTIONS_QUERY} (the helper's columns are null when none was found). */
export interface AuthFunctionRow {
  server_version_num: number;
  name: string | null;
  language: string | null;
  result: string | null;
  returns_set: boolean | null;
  config: string[] | null;
  src: string | null;
}

const RESULT_TYPES: Record<AuthFunctionName, string> = {
  uid: 'uuid',
  jwt: 'jsonb',
  role: 'text',
  email: 'text',
};

/** The bodies Supabase Auth defines (migrations of 2022 onwards; the 2024 ones add `set search_path`). */
const SUPABASE_BODIES: Record<AuthFunctionName, string> = {
  uid: `select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid`,
  role: `select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text`,
  email: `select coalesce(nullif(current_setting('request.jwt.claim.email', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'))::text`,
  jwt: `select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
          nullif(current_setting('request.jwt.claims', true), ''))::jsonb`,
};

/** A PostgreSQL 15 database with Supabase's four helpers, e.g. for tests. */
export const SUPABASE_AUTH_FUNCTIONS: Readonly<AuthFunctions> = Object.freeze({
  ...SUPABASE_BODIES,
  serverVersionNum: 150000,
});

/** {@link AuthFunctions} from the rows of {@link AUTH_FUNCTIONS_QUERY}. */
export function authFunctionsFromRows(rows: readonly AuthFunctionRow[]): AuthFunctions {
  const out: AuthFunctions = {
    uid: null,
    jwt: null,
    role: null,
    email: null,
    serverVersionNum: rows[0]?.server_version_num ?? null,
  };
  for (const row of rows) {
    const name = row.name as AuthFunctionName;
    if (row.name === null || !(name in RESULT_TYPES)) continue;
    const settingsOk = (row.config ?? []).every((c) => c.startsWith('search_path='));
    if (
      row.language === 'sql' &&
      row.result === RESULT_TYPES[name] &&
      row.returns_set === false &&
      settingsOk
    ) {
      out[name] = row.src;
    }
  }
  return out;
}

/** Whether the database's `auth.<name>()` is Supabase's definition. */
export function isSupabaseAuthFunction(auth: AuthFunctions, name: AuthFunctionName): boolean {
  const src = auth[name];
  return src !== null && normaliseSql(src) === normaliseSql(SUPABASE_BODIES[name]);
}

/**
 * SQL text with `--` comments dropped, case folded and whitespace removed outside string literals
 * and quoted identifiers, except one space between two word characters or two quoted tokens; a
 * trailing `;` dropped.
 */
export function normaliseSql(src: string): string {
  let out = '';
  let pendingSpace = false;
  let i = 0;
  const isWord = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_$]/.test(c);
  while (i < src.length) {
    const c = src[i]!;
    if (c === '-' && src[i + 1] === '-') {
      const nl = src.indexOf('\n', i);
      i = nl < 0 ? src.length : nl;
      pendingSpace = true;
    } else if (/\s/.test(c)) {
      pendingSpace = true;
      i++;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      for (;;) {
        const q = src.indexOf(c, j);
        if (q < 0) return `${out}<unterminated>`;
        j = q + 1;
        if (src[j] !== c) break;
        j++;
      }
      // `'a' 'b'` across lines is one literal 'ab', `'a''b'` is a'b: keep them apart
      if (pendingSpace && (out.endsWith("'") || out.endsWith('"'))) out += ' ';
      out += src.slice(i, j);
      pendingSpace = false;
      i = j;
    } else {
      if (pendingSpace && isWord(out[out.length - 1]) && isWord(c)) out += ' ';
      pendingSpace = false;
      out += c.toLowerCase();
      i++;
    }
  }
  return out.endsWith(';') ? out.slice(0, -1) : out;
}
