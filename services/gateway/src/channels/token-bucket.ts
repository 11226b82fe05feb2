/**
 * A token bucket: `perSecond` events per second on average, in bursts of up to as many. The
 * socket's join rate and the broadcast rates (per channel, per socket) are each one.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = perSecond;
    this.at = now;
  }

  /** Takes one event's token; false when over the rate. */
  take(now: number): boolean {
    return this.takeMany(now, 1) === 'ok';
  }

  /**
   * Takes `count` tokens at once, or none: `empty` when less than one is left, `short` when fewer
   * than `count` are (a batch bigger than the burst is always `short`).
   */
  takeMany(now: number, count: number): 'ok' | 'short' | 'empty' {
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return 'empty';
    if (this.tokens < count) return 'short';
    this.tokens -= count;
    return 'ok';
  }
}
