/**
 * The role of a token verifier, and the token rules shared by connect and join: where the connect
 * token is read from, how it is cleaned, and which token a channel uses (docs/protocol.md T1, T2).
 */
import type { JWTPayload } from 'jose';

export interface VerifiedToken {
  /** The verified claims; `role` and `sub` are kept on the channel for row-level authorization. */
  claims: Readonly<JWTPayload & { role?: unknown }>;
  /** `exp` in milliseconds since the epoch. */
  expiresAtMs: number;
}

export interface TokenVerifier {
  /** The claims of a valid token; rejects with an AuthError saying why it is not. */
  verify(token: string): Promise<VerifiedToken>;
}

/** URL-decoded, all whitespace removed (the original server's `clean_token`). */
export function cleanToken(raw: string): string {
  let decoded = raw;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    // not valid percent-encoding: keep it as it is; verification then refuses it as malformed
  }
  return decoded.replace(/\s/g, '');
}

/** The connect token: header `x-api-key`, else query `apikey`, else query `token`; null if none. */
export function connectToken(apiKeyHeader: string, query: URLSearchParams): string | null {
  const raw = apiKeyHeader || query.get('apikey') || query.get('token') || '';
  const token = cleanToken(raw);
  return token === '' ? null : token;
}

/** Keys that are not JWTs (`sb_publishable_…`, `sb_secret_…`) mean "use the connect token". */
export const isOpaqueKey = (token: string): boolean => token.startsWith('sb_');

/**
 * The token a join authorizes with: `user_token`, else `access_token`, else the connect token;
 * an `sb_…` value (in `access_token`, or `user_token` when that is absent) means the connect token.
 */
export function channelToken(payload: Record<string, unknown>, connect: string | null): string | null {
  const { access_token: access, user_token: user } = payload;
  const first = typeof access === 'string' ? access : user;
  if (typeof first === 'string' && isOpaqueKey(first)) return connect;
  if (typeof user === 'string') return cleanToken(user);
  if (typeof access === 'string') return cleanToken(access);
  return connect;
}
