import fc from 'fast-check';

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

/**
 * LIKE by dynamic programming over code points, the textbook way: slow (O(n·m) memory) but
 * obviously right. `%` and `*` any run, `_` one code point, `\\` escapes.
 */
function referenceLike(pattern: string, text: string): boolean {
  const tokens: string[] = []; // '%', '_', or '=' and a literal code point
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === '\\') tokens.push(`=${chars[++i]!}`);
    else if (c === '%' || c === '*') tokens.push('%');
    else if (c === '_') tokens.push('_');
    else tokens.push(`=${c}`);
  }
  const t = [...text];
  // row[j]: tokens so far match the first j code points of the text
  let row = t.map(() => false);
  row.unshift(true);
  for (const token of tokens) {
    const next = row.map(() => false);
    for (let j = 0; j <= t.length; j++) {
      if (token === '%') next[j] = row[j]! || (j > 0 && next[j - 1]!);
      else if (j > 0) next[j] = row[j - 1]! && (token === '_' || token.slice(1) === t[j - 1]);
    }
    row = next;
  }
  return row[t.length]!;
}

describe('LikePattern: agrees with a reference matcher', () => {
  const text = fc.array(fc.constantFrom('a', 'b', 'a', '😀', 'é'), { maxLength: 90 }).map((a) => a.join(''));
  const pattern = fc
    .array(fc.constantFrom('a', 'b', 'a', '_', '_', '%', '😀', 'é', '\\%', '\\_', '*'), { maxLength: 80 })
    .map((a) => a.join(''));
  // Segments of 32 code points and more, which the bit-parallel search holds in several words.
  const longSegments = fc
    .array(fc.constantFrom(...'ab_😀é'.repeat(5), '%'), { minLength: 40, maxLength: 120 })
    .map((a) => a.join(''));
  const anyPattern = fc.oneof(pattern, longSegments);

  it('on random patterns and values', () => {
    fc.assert(
      fc.property(anyPattern, text, (p, t) => {
        expect(like(p, t)).toBe(referenceLike(p, t));
      }),
      { numRuns: 3000, seed: 20261130 },
    );
  });

  it('on values built to match, then changed in one place', () => {
    const matching = fc
      .tuple(anyPattern, fc.array(text, { minLength: 20, maxLength: 20 }))
      .map(([p, fills]) => {
        // Fill each `%` with random text and each `_` with one code point: a value that must match.
        let value = '';
        let k = 0;
        const chars = [...p];
        for (let i = 0; i < chars.length; i++) {
          const c = chars[i]!;
          if (c === '\\') value += chars[++i]!;
          else if (c === '%' || c === '*') value += fills[k++ % fills.length]!;
          else if (c === '_') value += '😀';
          else value += c;
        }
        return [p, value] as const;
      });
    fc.assert(
      fc.property(matching, fc.nat(), ([p, value], at) => {
        expect(like(p, value)).toBe(true);
        const cut = [...value];
        if (cut.length > 0) cut.splice(at % cut.length, 1);
        expect(like(p, cut.join(''))).toBe(referenceLike(p, cut.join('')));
      }),
      { numRuns: 2000, seed: 20261130 },
    );
  });
});
