import {
  type AuthFunctionRow,
  authFunctionsFromRows,
  isSupabaseAuthFunction,
  normaliseSql,
} from './auth-functions';

/** auth.uid() as Supabase Auth's 2024 migration creates it (prosrc keeps the source's layout). */
const UID_2024 = `
      select
        coalesce(
          nullif(current_setting('request.jwt.claim.sub', true), ''),
          (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
        )::uuid
    `;
/** The 2021 body: `nullif(coalesce(…), '')`, which raises on an empty sub setting. */
const UID_2021 = `
  select
  nullif(
    coalesce(
      current_setting('request.jwt.claim.sub', true),
      (current_setting('request.jwt.claims', true)::jsonb ->> 'sub')
    ),
    ''
  )::uuid
`;

function row(name: string, src: string, overrides: Partial<AuthFunctionRow> = {}): AuthFunctionRow {
  const result = { uid: 'uuid', jwt: 'jsonb', role: 'text', email: 'text' }[name] ?? 'text';
  return {
    server_version_num: 150020,
    name,
    language: 'sql',
    result,
    returns_set: false,
    config: ['search_path=""'],
    src,
    ...overrides,
  };
}

describe('Supabase auth helpers', () => {
  it('recognises Supabase’s bodies whatever their layout and case', () => {
    const auth = authFunctionsFromRows([
      row('uid', UID_2024),
      row(
        'jwt',
        "SELECT COALESCE(NULLIF(current_setting('request.jwt.claim', TRUE), ''), NULLIF(current_setting('request.jwt.claims', TRUE), ''))::JSONB;",
      ),
    ]);
    expect(isSupabaseAuthFunction(auth, 'uid')).toBe(true);
    expect(isSupabaseAuthFunction(auth, 'jwt')).toBe(true);
    expect(isSupabaseAuthFunction(auth, 'role')).toBe(false); // absent
  });

  it('refuses other bodies, even close ones', () => {
    const auth = authFunctionsFromRows([
      row('uid', UID_2021),
      row(
        'role',
        UID_2024.replace('claim.sub', 'claim.role').replace("'sub'", "'role'").replace('uuid', 'text'),
      ),
      row('email', UID_2024.replace("'sub'", "'SUB'")), // case inside a literal matters
    ]);
    expect(isSupabaseAuthFunction(auth, 'uid')).toBe(false);
    expect(isSupabaseAuthFunction(auth, 'role')).toBe(true);
    expect(isSupabaseAuthFunction(auth, 'email')).toBe(false);
  });

  it('keeps only plain SQL functions of the right type without other settings', () => {
    const auth = authFunctionsFromRows([
      row('uid', UID_2024, { language: 'plpgsql' }),
      row('jwt', 'x', { result: 'json' }),
      row('role', 'x', { config: ['search_path=""', 'request.jwt.claim.role=admin'] }),
      row('email', 'x', { config: null }),
    ]);
    expect(auth).toEqual({ uid: null, jwt: null, role: null, email: 'x', serverVersionNum: 150020 });
  });

  it('reads the version from the row a database without helpers still returns', () => {
    const none: AuthFunctionRow = {
      server_version_num: 160004,
      name: null,
      language: null,
      result: null,
      returns_set: null,
      config: null,
      src: null,
    };
    expect(authFunctionsFromRows([none])).toEqual({
      uid: null,
      jwt: null,
      role: null,
      email: null,
      serverVersionNum: 160004,
    });
  });

  it('normalises whitespace, comments and case outside literals only', () => {
    expect(normaliseSql("  SELECT  a ->> 'X  Y' -- note\n ::uuid ;")).toBe("select a->>'X  Y'::uuid");
    expect(normaliseSql('select "Mixed  Name" from t')).toBe('select"Mixed  Name"from t');
    expect(normaliseSql("select 'a'\n 'b'")).not.toBe(normaliseSql("select 'a''b'"));
  });
});
