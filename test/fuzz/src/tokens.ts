/**
 * Tokens for the fuzzed SECURE_CHANNELS gateway, minted at send time from a {@link TokenSpec} (so a
 * counterexample prints as `{"kind":"expired"}`, not as a JWT that expired long ago). HS256 with
 * node:crypto: the gateway verifies with jose, the fuzzer needs nothing more than an HMAC.
 */
import { createHmac } from 'node:crypto';

/** The gateway's JWT_SECRET in every fuzz run. */
export const FUZZ_SECRET = 'walcast-fuzz-secret-with-at-least-32-characters';

export type TokenSpec =
  | { kind: 'valid' }
  | { kind: 'expired' }
  | { kind: 'wrong-key' }
  | { kind: 'no-role' }
  | { kind: 'alg-none' }
  | { kind: 'opaque' }
  | { kind: 'garbage'; text: string };

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

function hs256(claims: Record<string, unknown>, secret = FUZZ_SECRET): string {
  const signed = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

/** The token a spec stands for; `valid` is good for ten minutes. */
export function mintToken(spec: TokenSpec): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = { role: 'authenticated', sub: 'fuzz', exp: now + 600 };
  switch (spec.kind) {
    case 'valid':
      return hs256(claims);
    case 'expired':
      return hs256({ ...claims, exp: now - 3600 });
    case 'wrong-key':
      return hs256(claims, 'not-the-gateway-secret-but-long-enough-anyway');
    case 'no-role':
      return hs256({ sub: 'fuzz', exp: now + 600 });
    case 'alg-none':
      return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
    case 'opaque':
      return 'sb_publishable_fuzz';
    case 'garbage':
      return spec.text;
  }
}
