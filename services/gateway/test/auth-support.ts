// Token minting for the auth integration tests (jose): one HMAC secret, and RS256/ES256/EdDSA key
// pairs published either inline (JWT_JWKS) or from a local JWKS URL. Not a test file itself.
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from 'jose';

export const SECRET = 'walcast-test-secret-with-at-least-32-characters';
export const ISSUER = 'walcast-test';

const b64 = (text: string): string => Buffer.from(text).toString('base64url');
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

export function claims(extra: JWTPayload = {}): JWTPayload {
  return { role: 'authenticated', sub: 'user-1', iss: ISSUER, exp: nowSeconds() + 600, ...extra };
}

export function hsToken(payload: JWTPayload = claims(), alg = 'HS256', secret = SECRET): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

/** An unsigned token (`alg: none`). */
export function noneToken(payload: JWTPayload = claims()): string {
  return `${b64(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64(JSON.stringify(payload))}.`;
}

/** `header.payload` (taken as is, even if not valid base64url) with a correct HS256 signature. */
export function hmacSigned(headerAndPayload: string): string {
  return `${headerAndPayload}.${createHmac('sha256', SECRET).update(headerAndPayload).digest('base64url')}`;
}

export interface SigningKey {
  alg: 'RS256' | 'ES256' | 'EdDSA';
  kid: string;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  jwk: Record<string, unknown>;
  publicPem: string;
}

export async function signingKeys(prefix: string): Promise<SigningKey[]> {
  const out: SigningKey[] = [];
  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const kid = `${prefix}-${alg}`;
    out.push({
      alg,
      kid,
      privateKey,
      jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
      publicPem: await exportSPKI(publicKey),
    });
  }
  return out;
}

export function signWith(key: SigningKey, payload: JWTPayload = claims()): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
    .sign(key.privateKey);
}

/** Serves `{"keys": [...]}` at `/jwks`; counts the fetches. */
export async function serveJwks(
  keys: SigningKey[],
): Promise<{ url: string; server: Server; fetches: () => number }> {
  let fetches = 0;
  const server = createServer((req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: keys.map((k) => k.jwk) }));
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/jwks`, server, fetches: () => fetches };
}
