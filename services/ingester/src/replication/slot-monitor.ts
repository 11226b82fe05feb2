/**
 * Watches the replication slot from its own connection: how much WAL it retains, how far its
 * confirmed position trails the server, and its `wal_status`. Feeds the metrics and warns (once per
 * crossing, not per check) when retained WAL passes SLOT_LAG_WARN or the slot is about to be
 * invalidated by `max_slot_wal_keep_size`.
 *
 * Runs on every replica, leader or standby: an operator sees the slot from any of them. A failed
 * check is logged at debug and retried at the next interval; the streaming path never waits on it.
 */
import { Client, type ClientConfig } from 'pg';
import type { Logger } from '@walcast/logger';
import { repeatEvery } from '../repeat-every';

export interface SlotStatus {
  /** WAL bytes the slot keeps on the server (current position − restart_lsn). */
  retainedBytes: number;
  /** Bytes between the server's current position and the slot's confirmed position. */
  confirmedLagBytes: number;
  /** `reserved`, `extended`, `unreserved` or `lost` (PostgreSQL 13+). */
  walStatus: string | null;
  active: boolean;
}

const SLOT_STATUS_SQL = `select
    (pg_current_wal_lsn() - restart_lsn)::float8 as retained,
    (pg_current_wal_lsn() - confirmed_flush_lsn)::float8 as lag,
    wal_status, active
  from pg_replication_slots where slot_name = $1`;

export interface SlotMonitorOptions {
  pg: ClientConfig;
  slot: string;
  intervalMs: number;
  warnBytes: number;
  log: Logger;
}

export class SlotMonitor {
  private stopReadings: (() => void) | null = null;
  private client: Client | null = null;
  private warned = false;
  private lastWalStatus: string | null = null;
  /** The last reading; null before the first or when the slot does not exist (yet). */
  status: SlotStatus | null = null;

  constructor(private readonly opts: SlotMonitorOptions) {}

  start(): void {
    this.stopReadings = repeatEvery(() => this.check(), this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopReadings?.();
    this.stopReadings = null;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  /** One reading; never throws. */
  async check(): Promise<SlotStatus | null> {
    try {
      const client = await this.connection();
      const { rows } = await client.query<{
        retained: number | null;
        lag: number | null;
        wal_status: string | null;
        active: boolean;
      }>(SLOT_STATUS_SQL, [this.opts.slot]);
      const row = rows[0];
      this.status = row
        ? {
            retainedBytes: row.retained ?? 0,
            confirmedLagBytes: row.lag ?? 0,
            walStatus: row.wal_status,
            active: row.active,
          }
        : null;
      if (this.status) this.report(this.status);
    } catch (err) {
      this.opts.log.debug({ err }, 'slot check failed; retrying at the next interval');
      const client = this.client;
      this.client = null;
      await client?.end().catch(() => undefined);
    }
    return this.status;
  }

  private async connection(): Promise<Client> {
    if (this.client) return this.client;
    const client = new Client({ ...this.opts.pg, application_name: 'walcast-ingester-monitor' });
    client.on('error', (err) => this.opts.log.debug({ err }, 'slot monitor connection error'));
    await client.connect();
    this.client = client;
    return client;
  }

  private report(status: SlotStatus): void {
    const { slot, warnBytes, log } = this.opts;
    const fields = {
      slot,
      retainedBytes: status.retainedBytes,
      confirmedLagBytes: status.confirmedLagBytes,
      walStatus: status.walStatus,
    };
    if (status.retainedBytes > warnBytes && !this.warned) {
      this.warned = true;
      log.warn(
        { ...fields, warnBytes, code: 'SlotLag' },
        'replication slot retains more WAL than SLOT_LAG_WARN; see docs/operations.md, slot management',
      );
    } else if (status.retainedBytes <= warnBytes && this.warned) {
      this.warned = false;
      log.info(fields, 'replication slot back under SLOT_LAG_WARN');
    }
    if (status.walStatus !== this.lastWalStatus) {
      // `lost` is reported by the replication loop (SlotInvalidated, with the recovery steps).
      if (status.walStatus === 'unreserved')
        log.warn(
          { ...fields, code: 'SlotLag' },
          'replication slot is about to lose WAL it needs (max_slot_wal_keep_size)',
        );
      this.lastWalStatus = status.walStatus;
    }
  }
}
