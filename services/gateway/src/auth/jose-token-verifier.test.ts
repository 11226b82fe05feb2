import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { AuthError } from './auth-error';
import { JoseTokenVerifier } from './jose-token-verifier';
import { channelToken, cleanToken, connectToken } from './token-verifier';

const SECRET = 'unit-test-secret-with-at-least-32-characters';
const now = (): number => Math.floor(Date.now() / 1000);
const base = {
  jwtSecret: SECRET,
  jwks: null,
  jwksUrl: null,
  jwksCooldownMs: 30_000,
  claimValidators: {},
  clockToleranceMs: 5000,
};
const hs = (payload: JWTPayload, alg = 'HS256'): Promise<string> =>
  new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).sign(new TextEncoder().encode(SECRET));

async function failure(verifier: JoseTokenVerifier, token: string): Promise<AuthError> {
  const err = await verifier.verify(token).then(
    () => null,
    (e: unknown) => e,
  );
  if (!(err instanceof AuthError)) throw new Error(`expected an AuthError, got ${String(err)}`);
  return err;
}

describe('JoseTokenVerifier', () => {
  it('returns the claims and exp of a valid HS token', async () => {
    const exp = now() + 60;
    const verified = await new JoseTokenVerifier(base).verify(
      await hs({ role: 'anon', sub: 'u1', exp }, 'HS512'),
    );
    expect(verified.claims).toMatchObject({ role: 'anon', sub: 'u1' });
    expect(verified.expiresAtMs).toBe(exp * 1000);
  });

  it('honours the clock tolerance for exp', async () => {
    const token = await hs({ exp: now() - 2 });
    await expect(new JoseTokenVerifier(base).verify(token)).resolves.toBeDefined();
    const err = await failure(new JoseTokenVerifier({ ...base, clockToleranceMs: 0 }), token);
    expect([err.code, err.failure]).toEqual(['TokenExpired', 'expired']);
    expect(err.reason).toMatch(/^InvalidJWTToken: Token has expired [23] seconds ago$/);
  });

  it('requires exp and applies claim validators exactly', async () => {
    expect((await failure(new JoseTokenVerifier(base), await hs({ role: 'anon' }))).failure).toBe(
      'exp-missing',
    );
    const strict = new JoseTokenVerifier({ ...base, claimValidators: { iss: 'a', aud: ['x'] } });
    await expect(strict.verify(await hs({ iss: 'a', aud: ['x'], exp: now() + 60 }))).resolves.toBeDefined();
    expect((await failure(strict, await hs({ iss: 'a', aud: 'x', exp: now() + 60 }))).failure).toBe(
      'claim-mismatch',
    );
  });

  it('accepts only the algorithms of the configured keys', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' };
    const es = await new SignJWT({ exp: now() + 60 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .sign(privateKey);
    const jwksOnly = new JoseTokenVerifier({ ...base, jwtSecret: null, jwks: { keys: [jwk] } });
    await expect(jwksOnly.verify(es)).resolves.toBeDefined();
    expect((await failure(jwksOnly, await hs({ exp: now() + 60 }))).failure).toBe('algorithm');
    expect((await failure(new JoseTokenVerifier(base), es)).failure).toBe('algorithm');
    const unknownKid = await new SignJWT({ exp: now() + 60 })
      .setProtectedHeader({ alg: 'ES256', kid: 'k2' })
      .sign(privateKey);
    expect((await failure(jwksOnly, unknownKid)).failure).toBe('unknown-key');
  });

  it('refuses malformed and oversized tokens as MalformedJWT', async () => {
    const verifier = new JoseTokenVerifier(base);
    for (const token of ['', 'abc', 'a.b.c', await hs({ exp: now() + 60, pad: 'x'.repeat(20_000) })]) {
      expect((await failure(verifier, token)).kind).toBe('MalformedJWT');
    }
  });
});

describe('token sources', () => {
  it('reads x-api-key, then apikey, then token, cleaned', () => {
    expect(connectToken('h', new URLSearchParams('apikey=a&token=t'))).toBe('h');
    expect(connectToken('', new URLSearchParams('apikey=a&token=t'))).toBe('a');
    expect(connectToken('', new URLSearchParams('token=t'))).toBe('t');
    expect(connectToken('', new URLSearchParams('apikey=%20'))).toBeNull();
    expect(cleanToken('a%2Eb c\n')).toBe('a.bc');
  });

  it('picks the channel token per protocol T2', () => {
    expect(channelToken({}, 'c')).toBe('c');
    expect(channelToken({ access_token: 'a' }, 'c')).toBe('a');
    expect(channelToken({ user_token: 'u', access_token: 'a' }, 'c')).toBe('u');
    expect(channelToken({ access_token: 'sb_publishable_x' }, 'c')).toBe('c');
    expect(channelToken({ user_token: 'sb_x' }, 'c')).toBe('c');
    expect(channelToken({ access_token: 42 }, null)).toBeNull();
  });
});
