/**
 * The histogram buckets (seconds) of every latency walcast measures: the ingester's commit →
 * publish and the gateway's publish → send share them, so the two can be read side by side and
 * summed per bucket. From 0.5 ms (a quiet box) to 30 s (catching up after an outage).
 */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
