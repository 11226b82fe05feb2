/**
 * Why a token was refused. `code` is the log code (@walcast/protocol LogCodes), `failure` a finer
 * reason for logs and metrics (TokenRefusalReasons), and `kind` + `message` the client-facing text
 * in the form Supabase Realtime uses for join errors (docs/protocol.md C6): `"<kind>: <message>"`.
 */
import { errorReason, type ErrorCode, type LogCode, type TokenRefusalReason } from '@walcast/protocol';

export type AuthFailure = TokenRefusalReason;

/** The reason codes the original server used for token problems (client-facing ErrorCodes). */
export type AuthErrorKind = Extract<
  ErrorCode,
  'InvalidJWTToken' | 'MalformedJWT' | 'JwtSignatureError' | 'JwtSignerError'
>;

export class AuthError extends Error {
  readonly code: Extract<LogCode, 'InvalidToken' | 'TokenExpired'>;

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
    return errorReason(this.kind, this.message);
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
