import { MAX_PROGRAM_SIZE, compileRegexPattern } from './regex-pattern';
import { PatternError } from './text-pattern';

const match = (pattern: string, text: string): boolean => compileRegexPattern(pattern, false).test(text);
const imatch = (pattern: string, text: string): boolean => compileRegexPattern(pattern, true).test(text);

function refusal(pattern: string): string {
  try {
    compileRegexPattern(pattern, false);
  } catch (err) {
    expect(err).toBeInstanceOf(PatternError);
    return (err as Error).message;
  }
  throw new Error(`expected ${pattern} to be refused`);
}

describe('compileRegexPattern: PostgreSQL ~ and ~* semantics', () => {
  it('searches anywhere in the value unless anchored', () => {
    expect(match('b', 'abc')).toBe(true);
    expect(match('^b', 'abc')).toBe(false);
    expect(match('^ab+c$', 'abbbc')).toBe(true);
    expect(match('x', '')).toBe(false);
    expect(match('', '')).toBe(true);
  });

  it('lets `.` and `[^…]` match a newline, and `^` `$` only the ends of the value', () => {
    expect(match('^a.b$', 'a\nb')).toBe(true);
    expect(match('^a[^x]b$', 'a\nb')).toBe(true);
    expect(match('^b', 'a\nb')).toBe(false);
    expect(match('a$', 'a\nb')).toBe(false);
  });

  it('folds case for imatch only, non-ASCII too', () => {
    expect(match('^B', 'bob')).toBe(false);
    expect(imatch('^B', 'bob')).toBe(true);
    expect(imatch('^CAFÉ$', 'café')).toBe(true);
    expect(match('(?i)^CAFÉ$', 'café')).toBe(true);
  });

  it('reads `.` as one code point', () => {
    expect(match('^.$', '😀')).toBe(true);
    expect(match('^..$', '😀')).toBe(false);
  });

  it('supports bounds, classes, alternation, non-greedy and non-capturing groups', () => {
    expect(match('^a{1,3}$', 'aa')).toBe(true);
    expect(match('^a{1,3}$', 'aaaa')).toBe(false);
    expect(match('^[[:digit:]]+$', '123')).toBe(true);
    expect(match('^\\d+\\s\\w+$', '12 ab')).toBe(true);
    expect(match('^(?:cat|dog)s?$', 'dogs')).toBe(true);
    expect(match('a.*?b', 'axxb')).toBe(true);
    expect(match('^\\A', 'x')).toBe(true);
  });
});

describe('compileRegexPattern: refusals', () => {
  it.each([
    ['(a)\\1', 'back-references (\\1 to \\9)'],
    ['a(?=b)', 'lookahead and lookbehind constraints'],
    ['a(?!b)', 'lookahead and lookbehind constraints'],
    ['(?<=a)b', 'lookahead and lookbehind constraints'],
    ['(?<!a)b', 'lookahead and lookbehind constraints'],
    ['\\bword', '\\b and \\B (backspace and backslash in PostgreSQL, word boundaries in RE2)'],
    ['a\\B', '\\b and \\B (backspace and backslash in PostgreSQL, word boundaries in RE2)'],
    ['\\mword\\M', 'the boundary escapes \\m, \\M, \\y, \\Y and \\Z'],
    ['\\yword', 'the boundary escapes \\m, \\M, \\y, \\Y and \\Z'],
    ['end\\Z', 'the boundary escapes \\m, \\M, \\y, \\Y and \\Z'],
    ['[[:<:]]word', 'the word boundaries [[:<:]] and [[:>:]]'],
    ['x[[.a.]]', 'collating elements and equivalence classes ([[.x.]], [[=x=]])'],
    ['[b[=e=]]', 'collating elements and equivalence classes ([[.x.]], [[=x=]])'],
    ['***=a.b', 'the ***= and ***: directors'],
    ['(?x)a b', 'embedded options other than (?i)'],
    ['(?m)^a', 'embedded options other than (?i)'],
    ['(?s:a.)', 'embedded options other than (?i)'],
  ])('refuses %p, naming the feature', (pattern, feature) => {
    expect(refusal(pattern)).toBe(`${feature} are not supported in patterns (they run on RE2)`);
  });

  it('does not mistake escaped or bracketed text for a feature', () => {
    expect(match('\\\\b', '\\b')).toBe(true);
    expect(match('[(?=]+', '?=')).toBe(true);
    expect(match('^[]a]+$', ']a')).toBe(true);
    expect(match('^[[:alpha:]]\\.$', 'a.')).toBe(true);
    expect(match('[.]', 'a.b')).toBe(true);
  });

  it('reports what RE2 cannot parse as an invalid regular expression', () => {
    expect(refusal('[a-')).toMatch(/^invalid regular expression: .*missing closing \]/);
    expect(refusal('a**')).toMatch(/^invalid regular expression: /);
  });

  it('refuses patterns over 512 characters', () => {
    expect(refusal('a'.repeat(513))).toBe('pattern longer than 512 characters');
  });

  const tooComplex =
    `pattern too complex: it compiles to more than ${MAX_PROGRAM_SIZE} steps ` +
    '(a counted repetition such as {100} copies what it repeats)';

  it.each([
    ['a program over the limit', 'a[ab]{150}[^ab]'],
    ['a long literal', 'x'.repeat(130)],
    ['a nested repetition, before compiling it', `(${'a'.repeat(500)}){1000}`],
    ['a repetition RE2 would refuse', '(a{1000}){1000}'],
  ])('refuses %s as too complex', (_name, pattern) => {
    expect(refusal(pattern)).toBe(tooComplex);
  });

  it('accepts everyday patterns under the limit', () => {
    expect(match('^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', crypto.randomUUID())).toBe(
      true,
    );
    expect(match('^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$', 'ann@example.org')).toBe(true);
    expect(match('^\\+?[0-9]{7,15}$', '+4712345678')).toBe(true);
    expect(match('x'.repeat(120), 'x'.repeat(120))).toBe(true);
    expect(match('a[ab]{100}[^ab]', `a${'b'.repeat(100)}c`)).toBe(true);
  });
});

describe('compileRegexPattern: worst cases stay linear', () => {
  const value = 'a'.repeat(100_000);

  it.each(['(.*)*x', '(.*)*$x', '(a*)*[^a]', '(a+)+$b', '(a|aa)*c', '(.*a){20}[^a]', `${'.*'.repeat(40)}b`])(
    'fails %p on a 100 KB value (RegExp: exponential backtracking)',
    (pattern) => {
      expect(match(pattern, value)).toBe(false);
      expect(imatch(pattern.toUpperCase(), value)).toBe(false);
    },
  );

  it('still finds the match at the end of a 100 KB value', () => {
    expect(match('(a+)+b$', `${value}b`)).toBe(true);
    expect(match('(.*)*x', `${value}x`)).toBe(true);
  });
});
