import { nestsDeeperThan } from './json-depth';

describe('nestsDeeperThan', () => {
  it('counts arrays and objects, not scalars', () => {
    expect(nestsDeeperThan('1', 0)).toBe(false);
    expect(nestsDeeperThan('[]', 0)).toBe(true);
    expect(nestsDeeperThan('[]', 1)).toBe(false);
    expect(nestsDeeperThan('{"a":[{"b":[]}]}', 3)).toBe(true);
    expect(nestsDeeperThan('{"a":[{"b":[]}]}', 4)).toBe(false);
  });

  it('measures the deepest branch, not the total', () => {
    expect(nestsDeeperThan('[[1],[2],[3],{"x":[4]}]', 3)).toBe(false);
    expect(nestsDeeperThan('[[1],[2],[3],{"x":[4]}]', 2)).toBe(true);
    expect(nestsDeeperThan('[[1],[2],[3],[4]]', 2)).toBe(false);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    expect(nestsDeeperThan('["[[[[[", "{{{{"]', 1)).toBe(false);
    expect(nestsDeeperThan('["\\"[[[[", "\\\\"]', 1)).toBe(false);
    expect(nestsDeeperThan('["\\\\", [[]]]', 2)).toBe(true);
  });

  it('scans a 5,000-level frame without recursion', () => {
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    expect(nestsDeeperThan(deep, 64)).toBe(true);
    expect(nestsDeeperThan(deep, 5000)).toBe(false);
  });
});
