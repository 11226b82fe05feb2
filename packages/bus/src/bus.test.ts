import { busKeyId, matchesPattern } from './bus';

describe('matchesPattern', () => {
  it('compares exactly when the pattern has no `*`', () => {
    expect(matchesPattern('a:b', 'a:b')).toBe(true);
    expect(matchesPattern('a:b', 'a:bc')).toBe(false);
    expect(matchesPattern('a:b', 'xa:b')).toBe(false);
  });

  it('matches everything with a lone `*`', () => {
    expect(matchesPattern('*', '')).toBe(true);
    expect(matchesPattern('*', 'anything:at:all')).toBe(true);
  });

  it.each([
    ['a:*', 'a:', true],
    ['a:*', 'a:xyz', true],
    ['a:*', 'b:xyz', false],
    ['*:z', 'abc:z', true],
    ['*:z', 'abc:zz', false],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'acb', false],
    ['ab*ba', 'aba', false],
    ['ab*ba', 'abba', true],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['x*ab*b', 'xab', false],
    ['x*ab*b', 'xabb', true],
    ['**', 'q', true],
    ['a**b', 'ab', true],
  ])('%p against %p is %p', (pattern, topic, expected) => {
    expect(matchesPattern(pattern, topic)).toBe(expected);
  });

  it('treats `?` and `[` as ordinary characters', () => {
    expect(matchesPattern('a?*', 'ab')).toBe(false);
    expect(matchesPattern('a?*', 'a?b')).toBe(true);
    expect(matchesPattern('[ab]*', 'a')).toBe(false);
  });
});

describe('busKeyId', () => {
  it('distinguishes a topic from a pattern with the same text', () => {
    expect(busKeyId({ topic: 'a:*' })).not.toBe(busKeyId({ pattern: 'a:*' }));
    expect(busKeyId({ topic: 'a' })).toBe(busKeyId({ topic: 'a' }));
  });
});
