import type { Row } from '@walcast/protocol';
import { parseFilter } from './filter-parser';
import { kindOfType, parseInstant, RowFilter } from './row-filter';

/** Whether `filter` matches `row`, with every column of type `type` (or per-column types). */
function matches(
  filter: string,
  row: Row | undefined,
  type: string | Record<string, string> | undefined,
): boolean {
  const typeOf = (column: string): string | undefined => (typeof type === 'object' ? type[column] : type);
  return new RowFilter(parseFilter(filter)).matches(row, typeOf);
}

describe('kindOfType', () => {
  it.each([
    ['int2', 'number'],
    ['int4', 'number'],
    ['int8', 'number'],
    ['float4', 'number'],
    ['float8', 'number'],
    ['numeric', 'number'],
    ['oid', 'number'],
    ['bool', 'bool'],
    ['timestamp', 'instant'],
    ['timestamptz', 'instant'],
    ['date', 'instant'],
    ['text', 'text'],
    ['uuid', 'uuid'],
    ['_int4', 'text'],
    [undefined, 'text'],
  ])('%p compares as %p', (type, kind) => {
    expect(kindOfType(type)).toBe(kind);
  });
});

describe('parseInstant', () => {
  it('reads instants across offsets and separators as the same microsecond', () => {
    const utc = parseInstant('2021-01-01T00:00:00Z');
    expect(utc).toBe(Date.UTC(2021, 0, 1) * 1000);
    expect(parseInstant('2021-01-01T01:00:00+01:00')).toBe(utc);
    expect(parseInstant('2020-12-31 19:00:00-05')).toBe(utc);
    expect(parseInstant('2021-01-01 05:30:00+0530')).toBe(utc);
    expect(parseInstant('2021-01-01T00:00:00')).toBe(utc);
    expect(parseInstant('2021-01-01')).toBe(utc);
  });

  it('keeps microseconds', () => {
    expect(parseInstant('2021-01-01T00:00:00.000001Z')! - parseInstant('2021-01-01T00:00:00Z')!).toBe(1);
    expect(parseInstant('2021-01-01T00:00:00.5Z')! - parseInstant('2021-01-01T00:00:00Z')!).toBe(500_000);
  });

  it('reads years 0000-0099 as themselves, not as 1900-1999', () => {
    expect(parseInstant('0050-01-01')).not.toBe(parseInstant('1950-01-01'));
    expect(parseInstant('0050-01-01')! < parseInstant('0051-01-01')!).toBe(true);
  });

  it('refuses impossible dates instead of rolling them over', () => {
    expect(parseInstant('2021-02-30')).toBeNull();
  });

  it.each(['yesterday', '2021-1-1', '2021-01-01T', 'infinity', ''])('returns null for %p', (text) => {
    expect(parseInstant(text)).toBeNull();
  });
});

describe('RowFilter: no conditions', () => {
  it('matches every row, even a missing one', () => {
    const filter = new RowFilter([]);
    expect(filter.isEmpty).toBe(true);
    expect(filter.matches({ a: 1 }, () => undefined)).toBe(true);
    expect(filter.matches(undefined, () => undefined)).toBe(true);
  });

  it('with conditions, never matches a missing row', () => {
    const filter = new RowFilter(parseFilter('id=is.null'));
    expect(filter.isEmpty).toBe(false);
    expect(filter.matches(undefined, () => undefined)).toBe(false);
  });
});

describe('RowFilter: comparison operators', () => {
  it.each([
    ['eq', 5, true],
    ['eq', 6, false],
    ['neq', 6, true],
    ['neq', 5, false],
    ['lt', 4, true],
    ['lt', 5, false],
    ['lte', 5, true],
    ['lte', 6, false],
    ['gt', 6, true],
    ['gt', 5, false],
    ['gte', 5, true],
    ['gte', 4, false],
  ])('int4 %s.5 against %p is %p', (op, value, expected) => {
    expect(matches(`n=${op}.5`, { n: value }, 'int4')).toBe(expected);
  });

  it('compares numbers numerically, not as text', () => {
    expect(matches('n=gt.9', { n: 10 }, 'int4')).toBe(true);
    expect(matches('n=lt.9', { n: 10 }, 'int8')).toBe(false);
    expect(matches('n=gt.9.5', { n: 10 }, 'numeric')).toBe(true);
    expect(matches('n=eq.05', { n: 5 }, 'int2')).toBe(true);
    expect(matches('n=eq.1.50', { n: 1.5 }, 'numeric')).toBe(true);
    expect(matches('n=lt.-1', { n: -2 }, 'float8')).toBe(true);
  });

  it('compares numbers sent as strings numerically', () => {
    expect(matches('n=gt.9', { n: '10' }, 'numeric')).toBe(true);
  });

  it('compares uuids case-insensitively, as PostgreSQL reads them', () => {
    const id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
    expect(matches(`u=eq.${id.toUpperCase()}`, { u: id }, 'uuid')).toBe(true);
    expect(matches(`u=in.(${id.toUpperCase()})`, { u: id }, 'uuid')).toBe(true);
    expect(matches(`u=neq.${id.toUpperCase()}`, { u: id }, 'uuid')).toBe(false);
    expect(matches(`u=eq.${id.toUpperCase()}`, { u: id }, 'text')).toBe(false);
  });

  it('compares text lexicographically', () => {
    expect(matches('s=gt.9', { s: '10' }, 'text')).toBe(false);
    expect(matches('s=lt.9', { s: '10' }, 'text')).toBe(true);
    expect(matches('s=lt.b', { s: 'abc' }, 'varchar')).toBe(true);
    expect(matches('s=eq.05', { s: '5' }, 'text')).toBe(false);
    expect(matches('s=eq.Oslo', { s: 'Oslo' }, undefined)).toBe(true);
  });

  it('compares timestamptz as instants across offsets', () => {
    const row = { at: '2021-01-01T00:00:00Z' };
    expect(matches('at=eq.2021-01-01T01:00:00+01:00', row, 'timestamptz')).toBe(true);
    expect(matches('at=neq.2021-01-01T01:00:00+01:00', row, 'timestamptz')).toBe(false);
    expect(matches('at=lt.2021-01-01T00:30:00+00:00', row, 'timestamptz')).toBe(true);
    expect(matches('at=gt.2020-12-31T23:59:59.999999Z', row, 'timestamptz')).toBe(true);
    expect(matches('at=eq.2021-01-01T00:00:00.000001Z', row, 'timestamptz')).toBe(false);
  });

  it('orders timestamptz values by instant, not by their text', () => {
    expect(
      matches('at=gt.2021-01-01T00:00:00+00:00', { at: '2021-01-01T00:00:00-05:00' }, 'timestamptz'),
    ).toBe(true);
  });

  it('compares dates', () => {
    expect(matches('d=lt.2021-02-01', { d: '2021-01-31' }, 'date')).toBe(true);
    expect(matches('d=eq.2021-01-31', { d: '2021-01-31' }, 'date')).toBe(true);
    expect(matches('d=gte.2021-02-01', { d: '2021-01-31' }, 'date')).toBe(false);
  });

  it('compares timestamps without time zone', () => {
    expect(matches('t=eq.2021-01-01 10:00:00', { t: '2021-01-01T10:00:00' }, 'timestamp')).toBe(true);
  });

  it('compares booleans in any PostgreSQL spelling', () => {
    expect(matches('b=eq.true', { b: true }, 'bool')).toBe(true);
    expect(matches('b=eq.t', { b: true }, 'bool')).toBe(true);
    expect(matches('b=eq.false', { b: true }, 'bool')).toBe(false);
    expect(matches('b=neq.f', { b: true }, 'bool')).toBe(true);
    expect(matches('b=eq.no', { b: false }, 'bool')).toBe(true);
  });

  it('never matches when the filter value cannot be cast to the column type', () => {
    expect(matches('n=eq.abc', { n: 1 }, 'int4')).toBe(false);
    expect(matches('n=neq.abc', { n: 1 }, 'int4')).toBe(false);
    expect(matches('n=not.eq.abc', { n: 1 }, 'int4')).toBe(false);
    expect(matches('b=neq.maybe', { b: true }, 'bool')).toBe(false);
    expect(matches('at=lt.soon', { at: '2021-01-01T00:00:00Z' }, 'timestamptz')).toBe(false);
  });

  it('never matches when the row value cannot be cast to the column type', () => {
    expect(matches('n=neq.1', { n: 'x' }, 'int4')).toBe(false);
  });
});

describe('RowFilter: in', () => {
  it('matches any listed value, typed by column', () => {
    expect(matches('id=in.(1,2,3)', { id: 2 }, 'int4')).toBe(true);
    expect(matches('id=in.(1,2,3)', { id: 4 }, 'int4')).toBe(false);
    expect(matches('id=in.(01,02)', { id: 2 }, 'int8')).toBe(true);
    expect(matches('id=in.(01,02)', { id: '2' }, 'text')).toBe(false);
    expect(matches('name=in.("a,b",c)', { name: 'a,b' }, 'text')).toBe(true);
  });

  it('negates with not.in', () => {
    expect(matches('status=not.in.(a,b)', { status: 'c' }, 'text')).toBe(true);
    expect(matches('status=not.in.(a,b)', { status: 'a' }, 'text')).toBe(false);
  });

  it('skips items that cannot be cast', () => {
    expect(matches('id=in.(x,2)', { id: 2 }, 'int4')).toBe(true);
  });
});

describe('RowFilter: like, ilike, match, imatch', () => {
  it('applies like and ilike to the text of the value', () => {
    expect(matches('name=like.Bob%', { name: 'Bobby' }, 'text')).toBe(true);
    expect(matches('name=like.bob%', { name: 'Bobby' }, 'text')).toBe(false);
    expect(matches('name=ilike.bob%', { name: 'Bobby' }, 'text')).toBe(true);
    expect(matches('name=not.like.Bob%', { name: 'Bobby' }, 'text')).toBe(false);
  });

  it('applies patterns to the text of non-string values', () => {
    expect(matches('n=like.12%', { n: 123 }, 'int4')).toBe(true);
  });

  it('applies match and imatch', () => {
    expect(matches('code=match.^A[0-9]+$', { code: 'A123' }, 'text')).toBe(true);
    expect(matches('code=match.^a[0-9]+$', { code: 'A123' }, 'text')).toBe(false);
    expect(matches('code=imatch.^a[0-9]+$', { code: 'A123' }, 'text')).toBe(true);
    expect(matches('code=not.imatch.^a', { code: 'A123' }, 'text')).toBe(false);
  });
});

describe('RowFilter: is', () => {
  it.each([
    ['is.null', null, true],
    ['is.null', 1, false],
    ['not.is.null', 1, true],
    ['not.is.null', null, false],
    ['is.unknown', null, true],
    ['is.true', true, true],
    ['is.true', false, false],
    ['is.true', null, false],
    ['not.is.true', null, true],
    ['not.is.true', false, true],
    ['is.false', false, true],
    ['not.is.false', null, true],
    ['is.true', 't', true],
  ])('%s against %p is %p', (filter, value, expected) => {
    expect(matches(`b=${filter}`, { b: value }, 'bool')).toBe(expected);
  });
});

describe('RowFilter: NULL and absent columns', () => {
  const ops = [
    'eq.1',
    'neq.1',
    'lt.1',
    'lte.1',
    'gt.1',
    'gte.1',
    'in.(1,2)',
    'like.%',
    'ilike.%',
    'match..',
    'imatch..',
  ];

  it.each(ops)('%s never matches a NULL column, negated or not', (op) => {
    expect(matches(`c=${op}`, { c: null }, 'int4')).toBe(false);
    expect(matches(`c=not.${op}`, { c: null }, 'int4')).toBe(false);
  });

  it.each(ops)('%s never matches an absent column, negated or not', (op) => {
    expect(matches(`c=${op}`, { other: 1 }, 'int4')).toBe(false);
    expect(matches(`c=not.${op}`, { other: 1 }, 'int4')).toBe(false);
  });

  it('is.null matches NULL and absent columns', () => {
    expect(matches('c=is.null', { c: null }, 'int4')).toBe(true);
    expect(matches('c=is.null', {}, 'int4')).toBe(true);
  });

  it('does not read inherited properties as columns', () => {
    expect(matches('toString=is.null', {}, 'text')).toBe(true);
    expect(matches('constructor=eq.x', {}, 'text')).toBe(false);
  });

  it('isdistinct matches a NULL or absent column against a non-null value', () => {
    expect(matches('c=isdistinct.5', { c: null }, 'int4')).toBe(true);
    expect(matches('c=isdistinct.5', {}, 'int4')).toBe(true);
    expect(matches('c=not.isdistinct.5', { c: null }, 'int4')).toBe(false);
  });

  it('isdistinct compares non-null values by type', () => {
    expect(matches('c=isdistinct.5', { c: 5 }, 'int4')).toBe(false);
    expect(matches('c=isdistinct.05', { c: 5 }, 'int4')).toBe(false);
    expect(matches('c=isdistinct.6', { c: 5 }, 'int4')).toBe(true);
    expect(matches('c=not.isdistinct.5', { c: 5 }, 'int4')).toBe(true);
  });
});

describe('RowFilter: AND', () => {
  it('matches only when every condition does', () => {
    const types = { id: 'int4', name: 'text' };
    expect(matches('id=gt.1,name=eq.x', { id: 2, name: 'x' }, types)).toBe(true);
    expect(matches('id=gt.1,name=eq.x', { id: 2, name: 'y' }, types)).toBe(false);
    expect(matches('id=gt.1,name=eq.x', { id: 1, name: 'x' }, types)).toBe(false);
  });

  it('types each condition by its own column', () => {
    const types = { n: 'int4', s: 'text' };
    expect(matches('n=gt.9,s=lt.9', { n: 10, s: '10' }, types)).toBe(true);
  });

  it('casts the same condition separately for different column types', () => {
    const filter = new RowFilter(parseFilter('v=gt.9'));
    expect(filter.matches({ v: 10 }, () => 'int4')).toBe(true);
    expect(filter.matches({ v: '10' }, () => 'text')).toBe(false);
    expect(filter.matches({ v: 10 }, () => 'int4')).toBe(true);
  });
});
