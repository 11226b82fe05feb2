/**
 * The values the database path passes to `set_config` for a subscriber's JWT claims, as Supabase
 * sets them: `request.jwt.claims` (the whole payload as JSON text), `request.jwt.claim.sub` and
 * `request.jwt.claim.role`. Compiled predicates compute from the same values, so the database path
 * must take them from here.
 *
 * A claim's text: a string as is, absent or JSON null as `''`, anything else as its JSON text.
 * Strings are sent as UTF-8, so an unpaired surrogate arrives as U+FFFD: the text is made
 * well-formed the same way here. A U+0000 cannot be sent at all: `set_config` then fails.
 */
import { toWellFormed } from './sql-values';

export interface JwtSettings {
  /** `request.jwt.claims`: `JSON.stringify(claims)`. */
  claims: string;
  /** `request.jwt.claim.sub`. */
  sub: string;
  /** `request.jwt.claim.role`. */
  role: string;
}

/** The `set_config` values for `claims` (a verified JWT payload). */
export function jwtSettings(claims: Readonly<Record<string, unknown>>): JwtSettings {
  return { claims: JSON.stringify(claims), sub: claimText(claims['sub']), role: claimText(claims['role']) };
}

/** Whether a setting's value cannot be sent (it holds U+0000): the statement fails before any policy runs. */
export function isUnsendable(text: string): boolean {
  return text.includes('\u0000');
}

/** The setting value of one claim (`request.jwt.claim.<name>`). */
export function claimText(value: unknown): string {
  if (value === undefined || value === null) return '';
  return toWellFormed(typeof value === 'string' ? value : JSON.stringify(value));
}
