/**
 * Why a token was refused. `code` is the catalogue code (@walcast/protocol ErrorCodes) for logs,
 * `failure` a finer reason code for logs, and `kind` + `message` the client-facing text in the
 * form Supabase Realtime uses for join errors (protocol.md §3.3): `"<kind>: <message>"`.
 */
import type { ErrorCode } from '@walcast/protocol';

export type AuthFailure =
  | 'missing'
  | 'too-large'
  | 'malformed'
  | 'algorithm'
  | 'signature'
  | 'unknown-key'
  | 'key-unavailable'
  | 'exp-missing'
  | 'expired'
  | 'not-yet-valid'
  | 'claim-mismatch';

/** The §3.3 reason prefixes the original server used for token problems. */
export type AuthErrorKind = 'InvalidJWTToken' | 'MalformedJWT' | 'JwtSignatureError' | 'JwtSignerError';

export class AuthError extends Error {
  readonly code: Extract<ErrorCode, 'InvalidToken' | 'TokenExpired'>;

  constructor(
    readonly failure: AuthFailure,
    readonly kind: AuthErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AuthError';
    this.code = failure === 'expired' ? 'TokenExpired' : 'InvalidToken';
  }

  /** `"<kind>: <message>"`, the join error reason of modern channels. */
  get reason(): string {
    return `${this.kind}: ${this.message}`;
  }
}

export const malformed = (failure: AuthFailure = 'malformed', cause?: unknown): AuthError =>
  new AuthError(failure, 'MalformedJWT', 'The token provided is not a valid JWT', { cause });

export const badSignature = (failure: AuthFailure = 'signature', cause?: unknown): AuthError =>
  new AuthError(failure, 'JwtSignatureError', 'Failed to validate JWT signature', { cause });

/** `Token has expired N seconds ago`, N counted from `exp` (seconds since the epoch). */
export const expired = (expSeconds: number, nowMs = Date.now()): AuthError =>
  new AuthError(
    'expired',
    'InvalidJWTToken',
    `Token has expired ${Math.max(0, Math.floor(nowMs / 1000 - expSeconds))} seconds ago`,
  );
