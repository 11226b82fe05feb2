/**
 * Who a channel reads rows as, when ROW_AUTHORIZATION=postgres: the PostgreSQL role named by its
 * verified JWT's `role` claim, with the whole claims object set as `request.jwt.claims` (and `sub`
 * and `role` as `request.jwt.claim.sub` / `request.jwt.claim.role`), as Supabase sets them.
 *
 * Channels with equal identities see the same rows, so they share delivery groups and every
 * evaluation; the key is the role and the claims serialised with sorted keys.
 */

import { nestsDeeperThan } from '@walcast/protocol';
import { jwtSettings } from './jwt-settings';

/** Claims nesting deeper are refused (they are walked recursively below). */
const MAX_CLAIMS_DEPTH = 32;

export interface Identity {
  readonly role: string;
  readonly claims: Readonly<Record<string, unknown>>;
  /** Equal for equal role and claims. */
  readonly key: string;
  /** `claims` as JSON text (for `request.jwt.claims`; from jwtSettings, as compiled predicates read it). */
  readonly claimsJson: string;
  /** `claims.sub` as text, '' when absent. */
  readonly sub: string;
}

/** The identity of verified claims, or why they cannot be one (no `role` claim). */
export function identityOf(claims: Readonly<Record<string, unknown>>): Identity | { error: string } {
  const role = claims.role;
  if (typeof role !== 'string' || role === '') {
    return {
      error: 'the JWT has no `role` claim, which row authorization needs (ROW_AUTHORIZATION=postgres)',
    };
  }
  const settings = jwtSettings(claims);
  if (nestsDeeperThan(settings.claims, MAX_CLAIMS_DEPTH)) {
    return { error: `the JWT's claims nest deeper than ${MAX_CLAIMS_DEPTH} levels` };
  }
  return {
    role,
    claims,
    key: `${role}|${canonicalJson(claims)}`,
    claimsJson: settings.claims,
    sub: settings.sub,
  };
}

/** JSON with object keys sorted at every level, so equal claims give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
