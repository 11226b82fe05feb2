/**
 * The commonest row-level security policy, "each user sees their own rows": one permissive SELECT
 * policy `<uuid column> = auth.uid()` (in any of the forms PostgreSQL prints for it). For such a
 * table a change can be visible only to the identities whose `sub` equals the row's column, so the
 * fan-out offers it to those alone instead of judging it for every identity.
 *
 * Exact, not a heuristic: for an identity whose `sub` is a canonical uuid, `auth.uid()` cannot
 * raise, so the permissive policy is false for every other identity and PostgreSQL (like the
 * compiled predicate) never evaluates the restrictive policies after it. Identities with any other
 * `sub` (which make `auth.uid()` raise: an Error 500 row each) are always offered the change.
 */
import type { TableAccess } from './table-access';

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `sub` is a uuid as PostgreSQL prints one (so it equals a uuid column's text exactly). */
export const isCanonicalUuid = (sub: string): boolean => CANONICAL_UUID.test(sub);

const UID = String.raw`(?:auth\.uid\(\)|\( SELECT auth\.uid\(\) AS uid\))`;
const COLUMN = String.raw`([a-z_][a-z0-9_]*)`;
const FORMS = [new RegExp(`^\\(${COLUMN} = ${UID}\\)$`), new RegExp(`^\\(${UID} = ${COLUMN}\\)$`)];

/**
 * The uuid column that must equal the subscriber's `sub` for a row to be visible, or null when the
 * table's policies for this role are not exactly one such permissive policy (plus any restrictive
 * ones), when row-level security does not apply, or when the primary key is unreadable (then
 * every identity gets an error row).
 */
export function ownerColumnOf(access: TableAccess): string | null {
  if (!access.rlsApplies || access.policies.permissive.length !== 1) return null;
  if (access.primaryKey.length === 0 || !access.primaryKey.every((c) => access.selectable.has(c)))
    return null;
  const text = access.policies.permissive[0]!;
  for (const form of FORMS) {
    const column = form.exec(text)?.[1];
    if (column && access.columns.some((c) => c.name === column && c.type === 'uuid')) return column;
  }
  return null;
}
