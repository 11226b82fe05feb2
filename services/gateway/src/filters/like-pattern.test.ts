import { LikePattern, lowerCodePoints } from './like-pattern';
import { PatternError } from './text-pattern';

const like = (pattern: string, text: string): boolean => LikePattern.compile(pattern, false).test(text);
const ilike = (pattern: string, text: string): boolean => LikePattern.compile(pattern, true).test(text);

describe('LikePattern: PostgreSQL LIKE semantics', () => {
  it.each([
    ['', '', true],
    ['', 'a', false],
    ['%', '', true],
    ['%%', '', true],
    ['%%', 'abc', true],
    ['a%%c', 'ac', true],
    ['a%%c', 'abbc', true],
    ['_', '', false],
    ['_', 'a', true],
    ['_', 'ab', false],
    ['__', 'ab', true],
    ['%_', '', false],
    ['_%', 'a', true],
    ['%_%', 'xyz', true],
    ['a_c', 'abc', true],
    ['a_c', 'ac', false],
    ['a%b%c', 'abc', true],
    ['a%b%c', 'aXbYc', true],
    ['a%b%c', 'acb', false],
    ['%ab%ab%', 'abab', true],
    ['%ab%ab%', 'aba', false],
    ['%aba%', 'xxabaxx', true],
    ['ab%ba', 'aba', false], // prefix and suffix may not overlap
    ['ab%ba', 'abba', true],
    ['%a_c%', 'xabxaxc', true],
    ['%a__d', 'aabcd', true],
    ['a%', 'a\nb', true],
    ['a_b', 'a\nb', true],
  ])('%p LIKE... on %p is %p', (pattern, text, expected) => {
    expect(like(pattern, text)).toBe(expected);
  });

  it('reads PostgREST `*` as `%`', () => {
    expect(like('*by', 'bobby')).toBe(true);
    expect(like('b*b*', 'bob')).toBe(true);
    expect(like('b*x', 'bob')).toBe(false);
  });

  it('takes the character after `\\` literally', () => {
    expect(like('100\\%', '100%')).toBe(true);
    expect(like('100\\%', '1000')).toBe(false);
    expect(like('a\\_b', 'a_b')).toBe(true);
    expect(like('a\\_b', 'axb')).toBe(false);
    expect(like('a\\*', 'a*')).toBe(true);
    expect(like('a\\*', 'ab')).toBe(false);
    expect(like('a\\\\b', 'a\\b')).toBe(true);
    expect(like('\\a\\b', 'ab')).toBe(true);
    expect(like('%\\%%', 'x%y')).toBe(true);
    expect(like('%\\%%', 'xy')).toBe(false);
  });

  it('refuses a pattern ending in `\\`', () => {
    expect(() => LikePattern.compile('abc\\', false)).toThrow(PatternError);
    expect(() => LikePattern.compile('abc\\', false)).toThrow(
      'LIKE pattern must not end with escape character',
    );
    expect(like('abc\\\\', 'abc\\')).toBe(true);
  });

  it('treats RegExp specials as plain characters', () => {
    expect(like('a.c', 'abc')).toBe(false);
    expect(like('(x)+[y]$^', '(x)+[y]$^')).toBe(true);
  });

  it('reads `_` as one code point, not one UTF-16 unit, as PostgreSQL does for UTF-8 text', () => {
    expect(like('_', '😀')).toBe(true);
    expect(like('__', '😀')).toBe(false);
    expect(like('a_b', 'a😀b')).toBe(true);
    expect(like('%_😀', '😀😀')).toBe(true);
    expect(like('😀_%', '😀é')).toBe(true);
    expect(like('%_😀_%', 'x😀😀😀y')).toBe(true);
    expect(like('%😀__', '😀😀😀')).toBe(true);
    expect(like('%😀___', '😀😀😀')).toBe(false);
    expect(like('é_', 'éè')).toBe(true);
  });

  it('is case-sensitive', () => {
    expect(like('bob%', 'Bobby')).toBe(false);
    expect(like('%É', 'café')).toBe(false);
  });
});

describe('LikePattern: ILIKE', () => {
  it('compares lower-cased value and pattern', () => {
    expect(ilike('bob%', 'Bobby')).toBe(true);
    expect(ilike('BOB%', 'bobby')).toBe(true);
    expect(ilike('b_B', 'BOB')).toBe(true);
    expect(ilike('bob', 'bobby')).toBe(false);
  });

  it('folds non-ASCII letters', () => {
    expect(ilike('CAFÉ', 'café')).toBe(true);
    expect(ilike('%ÄRGER%', 'das ärgert')).toBe(true);
    expect(ilike('straße', 'STRASSE')).toBe(false); // lower() does not fold ß to ss
    expect(ilike('ΟΔΥΣΣΕΥΣ', 'Οδυσσευς')).toBe(false); // final ς is not σ
    expect(ilike('ΟΔΥΣΣΕΥΣ', 'οδυσσευσ')).toBe(true);
    expect(ilike('_stanbul', 'İstanbul')).toBe(true);
  });

  it('lower-cases one code point at a time', () => {
    expect(lowerCodePoints('ΣΑΣ')).toBe('σασ');
    expect(lowerCodePoints('İx')).toBe('ix');
    expect(lowerCodePoints('ÀB😀')).toBe('àb😀');
  });
});

describe('LikePattern: worst cases stay linear', () => {
  const value = 'a'.repeat(100_000);

  it('fails many `%` before a non-matching end on a 100 KB value (RegExp: minutes)', () => {
    expect(like(`${'%'.repeat(24)}b`, value)).toBe(false);
    expect(like(`${'%a'.repeat(24)}b`, value)).toBe(false);
    expect(ilike(`${'%A'.repeat(200)}B`, value)).toBe(false);
    expect(like(`${'%a'.repeat(24)}%`, value)).toBe(true);
  });

  it('fails long middle segments that almost match everywhere', () => {
    expect(like(`%${'a'.repeat(250)}b%`, value)).toBe(false);
    expect(like(`%_${'a'.repeat(250)}b%`, value)).toBe(false);
    expect(like(`%${'_'.repeat(250)}b%`, value)).toBe(false);
    expect(like(`${'%_'.repeat(250)}b`, value)).toBe(false);
    expect(like(`%${'a_'.repeat(200)}%`, value)).toBe(true);
  });
});
