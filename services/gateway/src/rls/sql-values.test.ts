import {
  boolIn,
  hasUnparsableString,
  intIn,
  jsonFieldText,
  jsonbText,
  numericText,
  uuidIn,
  uuidOut,
} from './sql-values';

describe('uuidIn', () => {
  it.each([
    ['11111111-1111-1111-1111-111111111111', '11111111111111111111111111111111'],
    ['A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11', 'a0eebc999c0b4ef8bb6d6bb9bd380a11'],
    ['{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}', 'a0eebc999c0b4ef8bb6d6bb9bd380a11'],
    ['a0eebc999c0b4ef8bb6d6bb9bd380a11', 'a0eebc999c0b4ef8bb6d6bb9bd380a11'],
    ['a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11', 'a0eebc999c0b4ef8bb6d6bb9bd380a11'],
    ['{a0eebc999c0b4ef8bb6d6bb9bd380a11}', 'a0eebc999c0b4ef8bb6d6bb9bd380a11'],
  ])('reads %s as PostgreSQL does', (text, hex) => {
    expect(uuidIn(text)).toBe(hex);
  });

  it.each([
    [''],
    ['abc'],
    [' 11111111-1111-1111-1111-111111111111'],
    ['11111111-1111-1111-1111-111111111111 '],
    ['11111111-1111-1111-1111-11111111111'],
    ['11111111-1111-1111-1111-1111111111111'],
    ['1111111-11111-1111-1111-111111111111'], // a hyphen after 7 digits
    ['11111111-1111-1111-1111-111111111111-'], // a hyphen after the last group
    ['{11111111-1111-1111-1111-111111111111'],
    ['11111111-1111-1111-1111-11111111111g'],
  ])('refuses %j', (text) => {
    expect(() => uuidIn(text)).toThrow('invalid input syntax for type uuid');
  });

  it('prints the canonical form', () => {
    expect(uuidOut('a0eebc999c0b4ef8bb6d6bb9bd380a11')).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  });
});

describe('boolIn', () => {
  it.each([
    ['true', true],
    ['TR', true],
    ['t', true],
    [' yes\n', true],
    ['on', true],
    ['1', true],
    ['f', false],
    ['FALSE', false],
    ['n', false],
    ['off', false],
    ['0', false],
  ])('reads %j as %s', (text, value) => {
    expect(boolIn(text)).toBe(value);
  });

  it.each([[''], ['o'], ['maybe'], ['truex'], ['01'], ['yes please']])('refuses %j', (text) => {
    expect(() => boolIn(text)).toThrow('invalid input syntax for type boolean');
  });
});

describe('intIn (PostgreSQL 12 to 15)', () => {
  it.each([
    [' 12 ', 'int4', 12n],
    ['+5', 'int4', 5n],
    ['-0', 'int2', 0n],
    ['\t7\n', 'int4', 7n],
    ['-2147483648', 'int4', -2147483648n],
    ['9223372036854775807', 'int8', 9223372036854775807n],
  ] as const)('reads %j as %s %s', (text, type, value) => {
    expect(intIn(text, type)).toBe(value);
  });

  it.each([[''], [' '], ['1_000'], ['0x10'], ['1.0'], ['１２'], ['1e3'], ['- 1']])('refuses %j', (text) => {
    expect(() => intIn(text, 'int8')).toThrow('invalid input syntax for type bigint');
  });

  it('refuses values out of the type’s range', () => {
    expect(() => intIn('2147483648', 'int4')).toThrow('out of range for type integer');
    expect(() => intIn('32768', 'int2')).toThrow('out of range for type smallint');
  });
});

describe('JSON as PostgreSQL prints it', () => {
  it('prints numbers as numeric does, exponents expanded', () => {
    expect(numericText(5)).toBe('5');
    expect(numericText(-0.5)).toBe('-0.5');
    expect(numericText(1e21)).toBe('1000000000000000000000');
    expect(numericText(1.5e-7)).toBe('0.00000015');
    expect(numericText(-2.5e30)).toBe('-2500000000000000000000000000000');
    expect(numericText(12345678901234567000)).toBe('12345678901234567000');
  });

  it('prints jsonb objects with keys by length then bytes, and spaces', () => {
    expect(jsonbText({ zz: 1, a: [1, 'x', null, true], 'é\n': { b: 1e21 } })).toBe(
      '{"a": [1, "x", null, true], "zz": 1, "é\\n": {"b": 1000000000000000000000}}',
    );
  });

  it('gives ->> text: strings unquoted, JSON null as SQL NULL, containers in each type’s own form', () => {
    expect(jsonFieldText('a"b', true)).toBe('a"b');
    expect(jsonFieldText(null, false)).toBeNull();
    expect(jsonFieldText(false, true)).toBe('false');
    expect(jsonFieldText(1e21, false)).toBe('1e+21');
    expect(jsonFieldText(1e21, true)).toBe('1000000000000000000000');
    expect(jsonFieldText({ b: 1, a: 2 }, false)).toBe('{"b":1,"a":2}');
    expect(jsonFieldText({ b: 1, a: 2 }, true)).toBe('{"a": 2, "b": 1}');
  });

  it('knows which documents PostgreSQL cannot parse', () => {
    expect(hasUnparsableString({ a: ['x', { b: 'é😀' }] })).toBe(false);
    expect(hasUnparsableString({ a: ['x', { b: 'a\u0000' }] })).toBe(true);
    expect(hasUnparsableString({ 'k\u0000': 1 })).toBe(true);
    expect(hasUnparsableString({ a: '\ud800x' })).toBe(true);
    expect(hasUnparsableString({ a: 'x\udc00' })).toBe(true);
  });
});
