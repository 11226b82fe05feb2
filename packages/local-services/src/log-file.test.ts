import { lastLines } from './log-file';

describe('lastLines', () => {
  it('returns the last n non-empty lines in order', () => {
    expect(lastLines('a\nb\n\nc\nd\n', 2)).toEqual(['c', 'd']);
  });

  it('returns everything when there are fewer lines than n, and nothing for n <= 0', () => {
    expect(lastLines('a\nb', 10)).toEqual(['a', 'b']);
    expect(lastLines('a\nb', 0)).toEqual([]);
  });
});
