import type { Identity } from '../rls/identity';
import type { DeliveryGroup } from './delivery-group';
import { OwnerIndex } from './owner-index';

const U1 = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
const U2 = 'b1eebc99-9c0b-4ef8-bb6d-6bb9bd380a22';

/** A group as the index sees it: only its row access's identity matters. */
function group(role: string, sub: string | null): DeliveryGroup {
  const identity = sub === null ? null : ({ role, sub } as Identity);
  return { rowAccess: identity ? { identity } : null } as unknown as DeliveryGroup;
}

function visited(index: OwnerIndex, owner: (role: string) => string | null | undefined): DeliveryGroup[] {
  const out: DeliveryGroup[] = [];
  index.visit(owner, (g) => out.push(g));
  return out;
}

describe('OwnerIndex', () => {
  it('takes only groups of identities with a canonical uuid sub', () => {
    const index = new OwnerIndex();
    expect(index.add(group('authenticated', U1))).toBe(true);
    expect(index.add(group('authenticated', 'not-a-uuid'))).toBe(false);
    expect(index.add(group('authenticated', U1.toUpperCase()))).toBe(false);
    expect(index.add(group('authenticated', null))).toBe(false);
    expect(index.size).toBe(1);
  });

  it("offers a change to the owner's groups, to none without an owner, to all when unknown", () => {
    const index = new OwnerIndex();
    const a = group('authenticated', U1);
    const a2 = group('authenticated', U1);
    const b = group('authenticated', U2);
    const other = group('other', U2);
    for (const g of [a, a2, b, other]) index.add(g);
    expect(visited(index, (role) => (role === 'authenticated' ? U1 : undefined))).toEqual([a, a2, other]);
    expect(visited(index, () => null)).toEqual([]);
    expect(visited(index, () => undefined)).toEqual([a, a2, b, other]);
    expect(visited(index, () => 'c2eebc99-9c0b-4ef8-bb6d-6bb9bd380a33')).toEqual([]);
  });

  it('forgets groups, and only those it holds', () => {
    const index = new OwnerIndex();
    const a = group('authenticated', U1);
    index.add(a);
    expect(index.delete(group('authenticated', U1))).toBe(false);
    expect(index.delete(a)).toBe(true);
    expect(index.size).toBe(0);
    expect(visited(index, () => undefined)).toEqual([]);
  });
});
