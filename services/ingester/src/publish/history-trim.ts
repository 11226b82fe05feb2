/**
 * HISTORY_TTL: drops from every table's history the changes committed longer ago than the TTL.
 * History entries are keyed by position, not time, so this keeps a few samples of (commit time,
 * end LSN) of published transactions, at most one per `sampleMs`, and every `intervalMs` trims
 * every history below the newest sample older than the TTL. Samples are kept only as long as
 * they may still be needed; after an ingester restart trimming starts once a TTL has passed
 * (HISTORY_MAX_LEN bounds the histories meanwhile). A failed trim is logged and retried next time.
 */
import type { Logger } from '@walcast/logger';
import { repeatEvery } from '../repeat-every';

export interface HistoryTrimOptions {
  ttlMs: number;
  intervalMs: number;
  /** Drops every history entry before this stream id. */
  trim(streamId: string): Promise<void>;
  log: Logger;
  now?: () => number;
}

export class HistoryTrim {
  private readonly samples: Array<{ atMs: number; lsn: bigint }> = [];
  private readonly sampleMs: number;
  private lastTrimmed = 0n;
  private stopper: (() => void) | null = null;

  constructor(private readonly opts: HistoryTrimOptions) {
    this.sampleMs = Math.max(1, Math.min(1000, Math.floor(opts.ttlMs / 100)));
  }

  /** A transaction committed at `commitTimeMs` and ending at `endLsn` is published. */
  record(commitTimeMs: number, endLsn: bigint): void {
    const last = this.samples[this.samples.length - 1];
    if (last && (commitTimeMs - last.atMs < this.sampleMs || endLsn <= last.lsn)) return;
    this.samples.push({ atMs: commitTimeMs, lsn: endLsn });
  }

  /** The stream id below which everything is older than the TTL, or null if nothing is known to be. */
  cutoff(): string | null {
    const limit = (this.opts.now ?? Date.now)() - this.opts.ttlMs;
    // The newest sample older than the TTL stays first: the next cutoff is at least it.
    while (this.samples.length > 1 && this.samples[1]!.atMs <= limit) this.samples.shift();
    const first = this.samples[0];
    return first && first.atMs <= limit ? `${first.lsn}-0` : null;
  }

  start(): void {
    this.stopper = repeatEvery(() => this.runOnce(), this.opts.intervalMs);
  }

  async runOnce(): Promise<void> {
    const cutoff = this.cutoff();
    if (cutoff === null) return;
    const lsn = BigInt(cutoff.slice(0, -2));
    if (lsn <= this.lastTrimmed) return;
    try {
      await this.opts.trim(cutoff);
      this.lastTrimmed = lsn;
    } catch (err) {
      this.opts.log.warn(
        { err, code: 'BusUnavailable' },
        'could not trim the change history; retrying later',
      );
    }
  }

  stop(): void {
    this.stopper?.();
  }
}
