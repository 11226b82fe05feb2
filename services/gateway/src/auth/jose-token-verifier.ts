/**
 * TokenVerifier on jose: HS256/384/512 with JWT_SECRET; RS*, PS*, ES* and EdDSA from a JWK set
 * (inline, or fetched from JWT_JWKS_URL with a cooldown), chosen by `kid`. The accepted algorithms
 * follow from the configured keys, so `alg: none`, and an HS token "signed" with a public key when
 * no secret is set, are refused before any key is used. `exp` is required; `nbf` is honoured; each
 * JWT_CLAIM_VALIDATORS entry must equal its claim exactly.
 */
import { isDeepStrictEqual } from 'node:util';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  jwtVerify,
  type JSONWebKeySet,
  type JWTHeaderParameters,
  type FlattenedJWSInput,
  type JWTPayload,
} from 'jose';
import type { AuthConfig } from '../config';
import { AuthError, badSignature, expired, malformed } from './auth-error';
import type { TokenVerifier, VerifiedToken } from './token-verifier';

const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC_ALGORITHMS = [
  ...['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
  ...['ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'],
];
/** Far above any real access token; a larger one is refused before it is parsed. */
export const MAX_TOKEN_CHARS = 16 * 1024;

type Key = Awaited<ReturnType<ReturnType<typeof createLocalJWKSet>>>;
type KeySet = (header: JWTHeaderParameters, token: FlattenedJWSInput) => Promise<Key>;

export class JoseTokenVerifier implements TokenVerifier {
  private readonly secret: Uint8Array | null;
  private readonly keySet: KeySet | null;
  private readonly algorithms: string[];

  constructor(
    private readonly config: Pick<
      AuthConfig,
      'jwtSecret' | 'jwks' | 'jwksUrl' | 'jwksCooldownMs' | 'claimValidators' | 'clockToleranceMs'
    >,
  ) {
    this.secret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : null;
    this.keySet = keySetFor(config);
    this.algorithms = [
      ...(this.secret ? HMAC_ALGORITHMS : []),
      ...(this.keySet ? ASYMMETRIC_ALGORITHMS : []),
    ];
  }

  async verify(token: string): Promise<VerifiedToken> {
    if (token === '') throw malformed('missing');
    if (token.length > MAX_TOKEN_CHARS) throw malformed('too-large');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header, jws) => this.keyFor(header, jws), {
        algorithms: this.algorithms,
        requiredClaims: ['exp'],
        clockTolerance: this.config.clockToleranceMs / 1000,
      }));
    } catch (err) {
      throw translate(err);
    }
    for (const [claim, value] of Object.entries(this.config.claimValidators)) {
      if (!isDeepStrictEqual(payload[claim], value)) {
        throw new AuthError('claim-mismatch', 'InvalidJWTToken', `Token claim \`${claim}\` is not accepted`);
      }
    }
    return { claims: payload, expiresAtMs: (payload.exp as number) * 1000 };
  }

  private keyFor(header: JWTHeaderParameters, jws: FlattenedJWSInput): Uint8Array | Promise<Key> {
    // jose has already refused algorithms outside the allow-list, so the matching key exists.
    if (header.alg.startsWith('HS')) return this.secret!;
    return this.keySet!(header, jws);
  }
}

function keySetFor(config: Pick<AuthConfig, 'jwks' | 'jwksUrl' | 'jwksCooldownMs'>): KeySet | null {
  const local = config.jwks ? createLocalJWKSet(config.jwks as unknown as JSONWebKeySet) : null;
  const remote = config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: config.jwksCooldownMs })
    : null;
  if (local && remote) {
    // Inline keys first; a kid they do not know is looked up at the URL.
    return async (header, jws) => {
      try {
        return await local(header, jws);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY') throw err;
        return remote(header, jws);
      }
    };
  }
  return local ?? remote;
}

/** Maps jose's errors (by their stable `code`) to the client-facing AuthError. */
function translate(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  const e = err as { code?: string; claim?: string; reason?: string; payload?: JWTPayload };
  switch (e.code) {
    case 'ERR_JWT_EXPIRED':
      return expired(Number(e.payload?.exp));
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (e.claim === 'exp' && e.reason === 'missing')
        return new AuthError('exp-missing', 'InvalidJWTToken', 'Fields `role` and `exp` are required in JWT');
      if (e.claim === 'exp')
        return new AuthError('malformed', 'InvalidJWTToken', 'Token expiration time is invalid');
      if (e.claim === 'nbf' && e.reason === 'check_failed')
        return new AuthError('not-yet-valid', 'InvalidJWTToken', 'Token is not valid yet (nbf)');
      return new AuthError('malformed', 'InvalidJWTToken', `Token claim \`${e.claim}\` is invalid`);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return badSignature('algorithm', err);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return badSignature('signature', err);
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return badSignature('unknown-key', err);
    case 'ERR_JWKS_TIMEOUT':
    case 'ERR_JWKS_INVALID':
      return signerUnavailable(err);
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
    case 'ERR_JOSE_NOT_SUPPORTED':
    case 'ERR_JOSE_GENERIC':
      return malformed('malformed', err);
    default:
      // A failed JWKS fetch (network, HTTP status) surfaces as a plain error from fetch.
      if (e.code === undefined && !(err instanceof TypeError && /Invalid|JSON/.test(String(err))))
        return signerUnavailable(err);
      return malformed('malformed', err);
  }
}

function signerUnavailable(cause: unknown): AuthError {
  return new AuthError(
    'key-unavailable',
    'JwtSignerError',
    'Failed to generate JWT signer, check your JWT secret or JWKS configuration',
    { cause },
  );
}
