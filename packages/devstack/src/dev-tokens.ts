/**
 * The tokens `pnpm dev --secure` prints, as `supabase start` does for its local stack: HS256 JWTs
 * signed with the development JWT_SECRET, one per Supabase API role (`anon`, `service_role`), valid
 * for ten years. Throwaway values for a throwaway stack; production tokens come from your auth
 * server.
 */
import { createHmac, randomBytes } from 'node:crypto';

const TEN_YEARS_S = 10 * 365 * 24 * 3600;

const base64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/** An HS256 JWT of `claims` (plus `iat` and `exp`) signed with `secret`. */
export function signDevToken(
  secret: string,
  claims: Record<string, unknown>,
  nowS = Math.floor(Date.now() / 1000),
): string {
  const header = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = base64url(
    JSON.stringify({ iss: 'walcast-dev', iat: nowS, exp: nowS + TEN_YEARS_S, ...claims }),
  );
  const signature = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${signature}`;
}

/** A fresh secret, for a run without JWT_SECRET. */
export function newDevSecret(): string {
  return randomBytes(32).toString('base64url');
}
