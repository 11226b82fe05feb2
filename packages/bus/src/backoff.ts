/**
 * The one reconnect backoff: exponential from `firstMs`, capped at `maxMs`, with "equal jitter"
 * (a random delay between half and all of it) so that many clients restarting together spread out.
 * Used by the bus's Redis connections and the ingester's replication retries.
 */
export function jitteredBackoffMs(attempt: number, firstMs: number, maxMs: number): number {
  // The exponent is capped only so that it stays finite; maxMs caps the delay long before.
  const base = Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return Math.round(base / 2 + Math.random() * (base / 2));
}
