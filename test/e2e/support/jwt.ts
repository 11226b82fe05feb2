/** HS256 JWTs for tests, signed with node:crypto (as GoTrue signs Supabase access tokens). */
import { createHmac } from 'node:crypto';

const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

export function signHs256(claims: Record<string, unknown>, secret: string, ttlSeconds = 3600): string {
  const body = { exp: Math.floor(Date.now() / 1000) + ttlSeconds, ...claims };
  const unsigned = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(body))}`;
  return `${unsigned}.${b64url(createHmac('sha256', secret).update(unsigned).digest())}`;
}
