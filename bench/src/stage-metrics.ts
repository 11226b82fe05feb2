/**
 * Where latency goes, from the services' own Prometheus histograms: each is scraped before and
 * after a measurement, and percentiles are read from the difference (as the upper bound of the
 * bucket the percentile falls in: coarse, 0.5–1–2.5–5–10–25–50–100 ms, but from the services
 * themselves, for the same changes).
 */

/** Cumulative bucket counts of histogram `name` (summed over its label sets), by upper bound in ms. */
export type Buckets = Map<number, number>;

export async function scrapeHistogram(metricsUrl: string, name: string): Promise<Buckets> {
  const text = await (await fetch(metricsUrl)).text();
  const buckets: Buckets = new Map();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le === undefined || !Number.isFinite(value)) continue;
    const ms = le === '+Inf' ? Infinity : Number(le) * 1000;
    buckets.set(ms, (buckets.get(ms) ?? 0) + value);
  }
  return buckets;
}

/** Sums the buckets of several services (the two gateways). */
export function sumBuckets(all: Buckets[]): Buckets {
  const sum: Buckets = new Map();
  for (const b of all) for (const [le, n] of b) sum.set(le, (sum.get(le) ?? 0) + n);
  return sum;
}

/** The `p`-th percentile (ms, bucket upper bound) of what was observed between `before` and `after`. */
export function bucketPercentile(before: Buckets, after: Buckets, p: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return NaN;
  const rank = (p / 100) * total;
  for (let i = 0; i < bounds.length; i++) if (counts[i]! >= rank) return bounds[i]!;
  return Infinity;
}

/** `≤ 5` / `≤ 25` style text of a bucket bound. */
export function bound(ms: number): string {
  return Number.isFinite(ms) ? `≤ ${ms}` : Number.isNaN(ms) ? 'n/a' : '> 30000';
}
