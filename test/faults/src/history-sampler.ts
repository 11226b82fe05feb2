/**
 * Samples one table's change history in Redis (the stream the ingester writes with each publish)
 * while a scenario runs: how many changes it holds (its entries hold several, packed: counted in a
 * script), its length (XLEN) and its memory (MEMORY USAGE), keeping the peaks, so that
 * a scenario can show the history stays bounded by HISTORY_MAX_LEN however large a transaction is.
 *
 * Lifecycle: {@link HistorySampler.start} connects and samples every `intervalMs` (a tick while a
 * sample is still running is skipped; a failed sample is counted); {@link HistorySampler.stop} takes
 * a last sample, reads Redis's peak memory and disconnects.
 */
import { Redis } from 'ioredis';

import { historyKeyFor, topicForTable } from '@walcast/protocol';

/** KEYS: a history stream. Returns how many changes it holds (two fields per change, packed or not). */
const COUNT_CHANGES = `
local n = 0
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do n = n + #entry[2] / 2 end
return n
`;

export class HistorySampler {
  /** Most changes seen held. */
  peakChanges = 0;
  /** Highest XLEN (entries) seen. */
  peakLength = 0;
  /** Highest MEMORY USAGE seen, in bytes. */
  peakBytes = 0;
  /** Redis's own peak memory (INFO memory `used_memory_peak`) when sampling stopped, in bytes. */
  redisPeakBytes = 0;
  samples = 0;
  failedSamples = 0;
  private timer: NodeJS.Timeout | null = null;
  private sampling: Promise<void> | null = null;

  private constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  /** Starts sampling the history of `schema.table` on the Redis at `url`. */
  static async start(url: string, schema: string, table: string, intervalMs = 100): Promise<HistorySampler> {
    const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
    redis.on('error', () => undefined); // a failed sample is counted; the scenario's own checks report Redis
    await redis.connect();
    const sampler = new HistorySampler(redis, historyKeyFor(topicForTable(schema, table)));
    sampler.timer = setInterval(() => sampler.tick(), intervalMs);
    return sampler;
  }

  /** Stops sampling after one last sample, reads Redis's own peak memory, then disconnects. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sampling;
    await this.sample();
    try {
      const info = await this.redis.info('memory');
      this.redisPeakBytes = Number(/^used_memory_peak:(\d+)/m.exec(info)?.[1] ?? 0);
    } catch {
      this.failedSamples++;
    }
    this.redis.disconnect();
  }

  private tick(): void {
    if (this.sampling !== null) return;
    this.sampling = this.sample().finally(() => (this.sampling = null));
  }

  private async sample(): Promise<void> {
    try {
      const [changes, length, bytes] = await Promise.all([
        this.redis.eval(COUNT_CHANGES, 1, this.key) as Promise<number>,
        this.redis.xlen(this.key),
        this.redis.call('MEMORY', 'USAGE', this.key) as Promise<number | null>,
      ]);
      this.peakChanges = Math.max(this.peakChanges, changes);
      this.peakLength = Math.max(this.peakLength, length);
      this.peakBytes = Math.max(this.peakBytes, bytes ?? 0);
      this.samples++;
    } catch {
      this.failedSamples++;
    }
  }
}
