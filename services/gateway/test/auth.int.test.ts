// SECURE_CHANNELS: the connect token (403 before the upgrade), the token of each channel (join
// errors per generation), every supported algorithm, and that refusals touch nobody else.
import type { Server } from 'node:http';
import {
  WalcastStack,
  WebSocketUpgradeError,
  freePort,
  sql,
  startBackends,
  type Backends,
} from '@walcast/test-utils';
import type { PhoenixTestClient } from '@walcast/test-utils';

import {
  ISSUER,
  SECRET,
  claims,
  hmacSigned,
  hsToken,
  noneToken,
  nowSeconds,
  serveJwks,
  signWith,
  signingKeys,
  type SigningKey,
} from './auth-support';
import { ClientPool, addGateway, insertUser, isChangeFor } from './support';

jest.setTimeout(60_000);

const USERS = 'realtime:public:users';
const PG_CHANGES = { postgres_changes: [{ event: '*', schema: 'public', table: 'users' }] };

let backends: Backends;
let stack: WalcastStack;
let jwksServer: Server;
let inlineKeys: SigningKey[];
let remoteKeys: SigningKey[];
let valid: string;
let watcher: PhoenixTestClient;
const pool = new ClientPool(() => stack);

beforeAll(async () => {
  backends = await startBackends();
  await sql(
    backends.pg.url,
    'create table public.users (id int primary key, name text)',
    'create publication supabase_realtime for all tables',
  );
  inlineKeys = await signingKeys('inline');
  remoteKeys = await signingKeys('remote');
  const jwks = await serveJwks(remoteKeys);
  jwksServer = jwks.server;
  stack = await WalcastStack.start(backends, {
    gateways: 1,
    gatewayEnv: {
      SECURE_CHANNELS: 'true',
      ROW_AUTHORIZATION: 'off',
      JWT_SECRET: SECRET,
      JWT_JWKS: JSON.stringify({ keys: inlineKeys.map((k) => k.jwk) }),
      JWT_JWKS_URL: jwks.url,
      JWT_CLAIM_VALIDATORS: JSON.stringify({ iss: ISSUER }),
      JWT_CLOCK_TOLERANCE: '0s',
    },
  });
  valid = await hsToken();
});

beforeEach(async () => {
  // A bystander on the same gateway: every refusal below must leave it receiving.
  watcher = await pool.open({ headers: { 'x-api-key': valid } });
  expect((await watcher.join(USERS)).payload.status).toBe('ok');
});

afterEach(async () => {
  const id = await insertUser(backends.pg.url);
  await watcher.next(isChangeFor(USERS, 'INSERT', id));
  await pool.closeAll();
});

afterAll(async () => {
  await pool.closeAll();
  await stack?.stop();
  await backends?.stop();
  jwksServer?.close();
}, 30_000);

async function connectStatus(opts: { headers?: Record<string, string>; query?: string }): Promise<number> {
  try {
    const client = await pool.open({ headers: opts.headers, path: `/socket/websocket${opts.query ?? ''}` });
    await client.close();
    return 101;
  } catch (err) {
    if (err instanceof WebSocketUpgradeError) return err.statusCode;
    throw err;
  }
}

/** Bad tokens: [name, token, modern join reason prefix]. */
async function badTokens(): Promise<Array<[string, string, string]>> {
  const rsaPem = inlineKeys.find((k) => k.alg === 'RS256')!.publicPem;
  return [
    ['empty', '', 'MalformedJWT: The token provided is not a valid JWT'],
    ['alg none', noneToken(), 'JwtSignatureError: Failed to validate JWT signature'],
    [
      'wrong secret',
      await hsToken(claims(), 'HS256', 'another-secret-of-enough-length-000'),
      'JwtSignatureError: ',
    ],
    ['HS256 keyed with the RSA public key', await hsToken(claims(), 'HS256', rsaPem), 'JwtSignatureError: '],
    ['expired', await hsToken(claims({ exp: nowSeconds() - 30 })), 'InvalidJWTToken: Token has expired 3'],
    [
      'nbf in the future',
      await hsToken(claims({ nbf: nowSeconds() + 600 })),
      'InvalidJWTToken: Token is not valid yet',
    ],
    [
      'exp missing',
      await hsToken({ role: 'authenticated', iss: ISSUER }),
      'InvalidJWTToken: Fields `role` and `exp`',
    ],
    [
      'claim validator mismatch',
      await hsToken(claims({ iss: 'someone-else' })),
      'InvalidJWTToken: Token claim `iss`',
    ],
    [
      'malformed base64',
      hmacSigned(`${b64('{"alg":"HS256","typ":"JWT"}')}.@@not-base64@@`),
      'MalformedJWT: ',
    ],
    [
      'malformed JSON',
      hmacSigned(`${b64('{"alg":"HS256","typ":"JWT"}')}.${b64('{"exp":')}`),
      'MalformedJWT: ',
    ],
    ['100 KB', await hsToken(claims({ pad: 'x'.repeat(100_000) })), 'MalformedJWT: '],
  ];
}

describe('connect', () => {
  it('refuses every bad token with HTTP 403 before the upgrade, and logs each once without the token', async () => {
    const gateway = stack.gateways[0]!;
    const before = gateway.logs.filter((l) => l['msg'] === 'connect refused').length;
    const cases = (await badTokens()).filter(([name]) => name !== '100 KB');
    for (const [name, token] of cases) {
      expect([name, await connectStatus({ headers: token ? { 'x-api-key': token } : {} })]).toEqual([
        name,
        403,
      ]);
    }
    // a valid token where it is not read
    expect(await connectStatus({ headers: { authorization: `Bearer ${valid}` } })).toBe(403);
    expect(await connectStatus({ query: `?access_token=${valid}` })).toBe(403);
    const refused = await gateway.waitForLog(
      () => gateway.logs.filter((l) => l['msg'] === 'connect refused').length >= before + cases.length + 2,
    );
    expect(refused).toBeDefined();
    const logs = gateway.logs.filter((l) => l['msg'] === 'connect refused').slice(before);
    expect(logs).toHaveLength(cases.length + 2);
    expect(logs.map((l) => [l['level'], l['code'], l['reason']])).toContainEqual([
      'info',
      'TokenExpired',
      'expired',
    ]);
    expect(logs.map((l) => l['reason'])).toEqual(
      expect.arrayContaining([
        'missing',
        'algorithm',
        'signature',
        'not-yet-valid',
        'exp-missing',
        'claim-mismatch',
        'malformed',
      ]),
    );
    for (const [, token] of cases)
      if (token) expect(gateway.lines.some((line) => line.includes(token))).toBe(false);
  });

  it('refuses a 100 KB token without a websocket', async () => {
    const [, big] = (await badTokens()).find(([name]) => name === '100 KB')!;
    await expect(pool.open({ path: `/socket/websocket?apikey=${big}` })).rejects.toThrow();
  });

  it('reads x-api-key first, then apikey, then token; URL-decoded and without whitespace', async () => {
    expect(await connectStatus({ headers: { 'x-api-key': valid }, query: '?apikey=garbage' })).toBe(101);
    expect(await connectStatus({ headers: { 'x-api-key': 'garbage' }, query: `?apikey=${valid}` })).toBe(403);
    expect(await connectStatus({ query: `?apikey=${valid}&token=garbage` })).toBe(101);
    expect(await connectStatus({ query: `?token=${valid}` })).toBe(101);
    const spaced = encodeURIComponent(`${valid.slice(0, 20)} \n\t${valid.slice(20)} `);
    expect(await connectStatus({ query: `?apikey=${spaced}` })).toBe(101);
  });

  it('accepts HS256/384/512 with the secret and RS256/ES256/EdDSA from the inline JWKS and the JWKS URL', async () => {
    const tokens = [
      ...(await Promise.all(['HS256', 'HS384', 'HS512'].map((alg) => hsToken(claims(), alg)))),
      ...(await Promise.all([...inlineKeys, ...remoteKeys].map((k) => signWith(k)))),
    ];
    const clients = await Promise.all(
      tokens.map((token) => pool.open({ path: `/socket/websocket?apikey=${token}` })),
    );
    for (const [i, client] of clients.entries()) {
      const reply = await client.join(`realtime:room${i}`, { config: PG_CHANGES, access_token: tokens[i] });
      expect(reply.payload).toMatchObject({ status: 'ok' });
    }
    const id = await insertUser(backends.pg.url);
    for (const client of clients)
      await client.next((f) => f.event === 'postgres_changes' && f.payload?.data?.record?.id === id);
  });
});

describe('join', () => {
  it('refuses every bad token: legacy with the v0.22 reason, modern with the T3 reason', async () => {
    const client = await pool.open({ headers: { 'x-api-key': valid } });
    for (const [name, token, modernReason] of await badTokens()) {
      const legacy = await client.join(USERS, { user_token: token });
      expect([name, legacy.payload]).toEqual([
        name,
        { status: 'error', response: { reason: `error occurred when joining ${USERS} with user token` } },
      ]);
      const modern = await client.join('realtime:room1', { config: PG_CHANGES, access_token: token });
      expect([name, modern.payload.status]).toEqual([name, 'error']);
      expect([name, modern.payload.response.reason]).toEqual([
        name,
        expect.stringMatching(new RegExp(`^${escape(modernReason)}`)),
      ]);
    }
    expect(client.isOpen).toBe(true);
  });

  it('uses the connect token when the join carries none or an sb_ key', async () => {
    const client = await pool.open({ headers: { 'x-api-key': valid } });
    expect((await client.join(USERS)).payload.status).toBe('ok');
    const reply = await client.join('realtime:room1', {
      config: PG_CHANGES,
      access_token: 'sb_publishable_abc',
    });
    expect(reply.payload.status).toBe('ok');
  });
});

describe('an unreachable JWKS URL', () => {
  it('refuses tokens it cannot check with 403 and a warning, and keeps accepting HS tokens', async () => {
    const deadPort = await freePort(); // nothing listens there
    const index = await addGateway(stack, {
      SECURE_CHANNELS: 'true',
      ROW_AUTHORIZATION: 'off',
      JWT_SECRET: SECRET,
      JWT_JWKS_URL: `http://127.0.0.1:${deadPort}/jwks.json`,
      JWT_CLAIM_VALIDATORS: JSON.stringify({ iss: ISSUER }),
    });
    const gateway = stack.gateways[index]!;
    try {
      const rsToken = await signWith(remoteKeys[0]!);
      await expect(
        pool.open({ gateway: index, path: `/socket/websocket?apikey=${rsToken}` }),
      ).rejects.toThrow(WebSocketUpgradeError);
      const warning = await gateway.waitForLog((l) => l['reason'] === 'key-unavailable');
      expect(warning['level']).toBe('warn');
      expect(JSON.stringify(gateway.logs)).not.toContain(rsToken);
      const client = await pool.open({ gateway: index, headers: { 'x-api-key': valid } });
      expect((await client.join(USERS)).payload.status).toBe('ok');
      const id = await insertUser(backends.pg.url);
      await client.next(isChangeFor(USERS, 'INSERT', id));
    } finally {
      await gateway.stop();
    }
  });
});

const b64 = (text: string): string => Buffer.from(text).toString('base64url');

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\`]/g, '\\$&');
}
