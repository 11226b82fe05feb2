import { jitteredBackoffMs } from './backoff';

describe('jitteredBackoffMs', () => {
  it('doubles from the first delay, stays within [half, all] of it, and never exceeds the cap', () => {
    for (let i = 0; i < 200; i++) {
      expect(jitteredBackoffMs(0, 100, 5000)).toBeGreaterThanOrEqual(50);
      expect(jitteredBackoffMs(0, 100, 5000)).toBeLessThanOrEqual(100);
      expect(jitteredBackoffMs(3, 100, 5000)).toBeGreaterThanOrEqual(400);
      expect(jitteredBackoffMs(3, 100, 5000)).toBeLessThanOrEqual(800);
      expect(jitteredBackoffMs(1000, 100, 5000)).toBeGreaterThanOrEqual(2500);
      expect(jitteredBackoffMs(1000, 100, 5000)).toBeLessThanOrEqual(5000);
    }
  });
});
