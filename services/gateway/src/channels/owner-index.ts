/**
 * The delivery groups of one subscription that read as an identity with a canonical uuid `sub`
 * (row authorization) and have no equality filter of their own, by role and `sub`. For a table
 * whose policy is "own rows only" (rls/owner-key.ts) a change is offered to the groups whose `sub`
 * equals the row's owner column, not to every identity; otherwise (another policy, a DELETE, the
 * table not known yet) to every group of the role, as without the index.
 */
import { isCanonicalUuid } from '../rls/owner-key';
import type { DeliveryGroup } from './delivery-group';

export class OwnerIndex {
  private readonly byRole = new Map<string, Map<string, Set<DeliveryGroup>>>();
  private readonly keys = new Map<DeliveryGroup, { role: string; sub: string }>();

  get size(): number {
    return this.keys.size;
  }

  /** Takes `group` when it reads as an identity the index can place; false otherwise. */
  add(group: DeliveryGroup): boolean {
    const identity = group.rowAccess?.identity;
    if (!identity || !isCanonicalUuid(identity.sub)) return false;
    const { role, sub } = identity;
    let bySub = this.byRole.get(role);
    if (!bySub) {
      bySub = new Map();
      this.byRole.set(role, bySub);
    }
    let groups = bySub.get(sub);
    if (!groups) {
      groups = new Set();
      bySub.set(sub, groups);
    }
    groups.add(group);
    this.keys.set(group, { role, sub });
    return true;
  }

  /** Forgets `group`; false when it was not here. */
  delete(group: DeliveryGroup): boolean {
    const key = this.keys.get(group);
    if (!key) return false;
    this.keys.delete(group);
    const bySub = this.byRole.get(key.role)!;
    const groups = bySub.get(key.sub)!;
    groups.delete(group);
    if (groups.size === 0) bySub.delete(key.sub);
    if (bySub.size === 0) this.byRole.delete(key.role);
    return true;
  }

  /**
   * Visits every group that may want the change: per role, those whose `sub` is `ownerValue(role)`
   * (a string), none (null: the row has no owner), or all of the role (undefined).
   */
  visit(
    ownerValue: (role: string) => string | null | undefined,
    visit: (group: DeliveryGroup) => void,
  ): void {
    for (const [role, bySub] of this.byRole) {
      const owner = ownerValue(role);
      if (owner === null) continue;
      if (owner === undefined) {
        for (const groups of bySub.values()) for (const group of groups) visit(group);
      } else {
        const groups = bySub.get(owner);
        if (groups) for (const group of groups) visit(group);
      }
    }
  }
}
