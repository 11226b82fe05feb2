/**
 * Deletes rows of `realtime.messages` older than MESSAGE_RETENTION, every
 * MESSAGE_RETENTION_INTERVAL, on a connection of its own.
 *
 * Invariants:
 * - Never one large delete: each statement removes at most `batchSize` rows (the oldest first, by
 *   the index on inserted_at) in its own transaction, and a run stops after `maxBatches`; the next
 *   run continues. Locks are short and WAL is written in small pieces.
 * - Runs only while `shouldRun()` says so (the ingester that holds the slot, with the table there),
 *   so standbys do not compete for the same rows.
 * - A failed run is logged (RetentionFailed, once per change of message) and counted; the timer goes on.
 */
import { Client, type ClientConfig } from 'pg';
import type { Logger } from '@walcast/logger';

const DELETE_BATCH_SQL = `with doomed as (
    select id from realtime.messages
    where inserted_at < timezone('utc', now()) - make_interval(secs => $1::double precision / 1000)
    order by inserted_at
    limit $2
    for update skip locked
  )
  delete from realtime.messages m using doomed where m.id = doomed.id`;

export interface RetentionOptions {
  pg: ClientConfig;
  retentionMs: number;
  intervalMs: number;
  batchSize?: number;
  maxBatches?: number;
  log: Logger;
  shouldRun(): boolean;
  onDeleted(rows: number): void;
  onFailed(): void;
}

export class MessageRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;
  private lastError: string | null = null;

  constructor(private readonly opts: RetentionOptions) {}

  start(): void {
    if (!Number.isFinite(this.opts.retentionMs) || this.timer) return;
    this.timer = setInterval(() => {
      if (this.running || !this.opts.shouldRun()) return;
      void this.runOnce();
    }, this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** One run: batches until one deletes fewer than `batchSize` rows or `maxBatches` ran. Returns rows deleted. */
  runOnce(): Promise<number> {
    this.running ??= this.deleteOld().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async deleteOld(): Promise<number> {
    const batchSize = this.opts.batchSize ?? 1000;
    const maxBatches = this.opts.maxBatches ?? 100;
    const db = new Client({ ...this.opts.pg, application_name: 'walcast-ingester-retention' });
    db.on('error', () => undefined);
    let total = 0;
    try {
      await db.connect();
      for (let i = 0; i < maxBatches; i++) {
        const { rowCount } = await db.query(DELETE_BATCH_SQL, [this.opts.retentionMs, batchSize]);
        const deleted = rowCount ?? 0;
        total += deleted;
        if (deleted > 0) this.opts.onDeleted(deleted);
        if (deleted < batchSize) break;
      }
      if (total > 0) this.opts.log.info({ deleted: total }, 'old messages deleted');
      if (this.lastError) this.opts.log.info('message retention recovered');
      this.lastError = null;
    } catch (err) {
      this.opts.onFailed();
      const message = (err as Error).message;
      if (message !== this.lastError) {
        this.opts.log.warn(
          { err, code: 'RetentionFailed' },
          'deleting old messages failed; retrying at the next run',
        );
      }
      this.lastError = message;
    } finally {
      await db.end().catch(() => undefined);
    }
    return total;
  }
}
