import { TokenBucket } from './token-bucket';

describe('TokenBucket', () => {
  it('allows a burst of perSecond joins, then refills at that rate', () => {
    const rate = new TokenBucket(4, 0);
    expect([1, 2, 3, 4, 5].map(() => rate.take(0))).toEqual([true, true, true, true, false]);
    expect(rate.take(100)).toBe(false); // 0.4 of a join refilled
    expect(rate.take(250)).toBe(true); // 1 join refilled
    expect(rate.take(250)).toBe(false);
    expect([1, 2, 3, 4, 5].map(() => rate.take(10_000))).toEqual([true, true, true, true, false]);
  });
});
