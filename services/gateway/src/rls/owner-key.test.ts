import { isCanonicalUuid, ownerColumnOf } from './owner-key';
import type { TableAccess } from './table-access';

const access = (overrides: Partial<TableAccess> = {}): TableAccess => ({
  schema: 'public',
  table: 'todos',
  rlsApplies: true,
  replicaIdentityFull: false,
  columns: [
    { name: 'id', type: 'int8' },
    { name: 'owner', type: 'uuid' },
    { name: 'team', type: 'text' },
  ],
  selectable: new Set(['id', 'owner', 'team']),
  primaryKey: ['id'],
  policies: { permissive: ['(owner = auth.uid())'], restrictive: [] },
  usable: true,
  version: 1,
  ...overrides,
});

describe('ownerColumnOf', () => {
  it.each([
    '(owner = auth.uid())',
    '(auth.uid() = owner)',
    '(( SELECT auth.uid() AS uid) = owner)',
    '(owner = ( SELECT auth.uid() AS uid))',
  ])('finds the column in %s', (policy) => {
    expect(
      ownerColumnOf(access({ policies: { permissive: [policy], restrictive: ["(team <> 'x'::text)"] } })),
    ).toBe('owner');
  });

  it.each([
    [
      'two permissive policies',
      { policies: { permissive: ['(owner = auth.uid())', 'true'], restrictive: [] } },
    ],
    [
      'an OR',
      { policies: { permissive: ["((owner = auth.uid()) OR (team = 'x'::text))"], restrictive: [] } },
    ],
    ['a text column', { policies: { permissive: ['(team = auth.uid())'], restrictive: [] } }],
    ['RLS not applying', { rlsApplies: false }],
    ['an unreadable key', { selectable: new Set(['owner']) }],
    ['no key', { primaryKey: [] }],
  ] as const)('is null with %s', (_name, overrides) => {
    expect(ownerColumnOf(access(overrides as Partial<TableAccess>))).toBeNull();
  });
});

describe('isCanonicalUuid', () => {
  it('accepts only the lower-case hyphenated form PostgreSQL prints', () => {
    expect(isCanonicalUuid('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')).toBe(true);
    expect(isCanonicalUuid('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')).toBe(false);
    expect(isCanonicalUuid('{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}')).toBe(false);
    expect(isCanonicalUuid('a0eebc999c0b4ef8bb6d6bb9bd380a11')).toBe(false);
    expect(isCanonicalUuid('user-1')).toBe(false);
  });
});
