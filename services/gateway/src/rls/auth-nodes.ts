/**
 * Compiled forms of what policies read from the JWT: Supabase's `auth.uid()`, `auth.role()`,
 * `auth.email()` and `auth.jwt()` (their meaning with the database path's settings is in
 * auth-functions.ts) and `current_setting('request.jwt.…')`.
 */
import type { AuthFunctionName } from './auth-functions';
import type { PolicyExpr } from './policy-parser';
import type { EvalContext, Node } from './predicate-nodes';
import { SqlError, jsonFieldText, jsonMember, uuidIn } from './sql-values';

/** `current_setting('request.jwt.claims'::text[, …])`. */
export function isClaimsSetting(e: PolicyExpr): boolean {
  const arg = e.kind === 'call' && e.name === 'current_setting' ? e.args[0] : undefined;
  return arg?.kind === 'cast' && arg.expr.kind === 'literal' && arg.expr.text === 'request.jwt.claims';
}

/** The value of one of the three settings the database path sets. */
export function settingValue(ctx: EvalContext, name: string): string {
  return name === 'request.jwt.claims'
    ? ctx.claimsText
    : name === 'request.jwt.claim.sub'
      ? ctx.facts.sub
      : ctx.facts.role;
}

/** `coalesce(nullif(<setting>, ''), claims ->> '<key>')`, the core of Supabase's helpers. */
function settingOrClaim(ctx: EvalContext, setting: string, key: string): string | null {
  if (setting !== '') return setting;
  const member = jsonMember(ctx.parsedClaims().json, key);
  return member === undefined ? null : jsonFieldText(member, true);
}

export const AUTH_NODES: Record<AuthFunctionName, Node> = {
  uid: {
    type: 'uuid',
    run: (ctx) => {
      const facts = ctx.facts;
      if (facts.uid === undefined) {
        try {
          const text = settingOrClaim(ctx, facts.sub, 'sub');
          facts.uid = { value: text === null ? null : uuidIn(text) };
        } catch (err) {
          if (!(err instanceof SqlError)) throw err;
          facts.uid = { error: err };
        }
      }
      if ('error' in facts.uid) throw facts.uid.error;
      return facts.uid.value;
    },
  },
  role: { type: 'text', run: (ctx) => settingOrClaim(ctx, ctx.facts.role, 'role') },
  email: { type: 'text', run: (ctx) => settingOrClaim(ctx, '', 'email') },
  jwt: { type: 'jsonb', run: (ctx) => ctx.parsedClaims() },
};
