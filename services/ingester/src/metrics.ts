/**
 * The ingester's Prometheus metrics (`/metrics` on HEALTH_PORT). One registry per ingester.
 *
 * Labels are bounded by construction (the ingester's states); no table, topic or value is ever a
 * label. Slot figures come from the SlotMonitor's last reading.
 */
import { LATENCY_BUCKETS_SECONDS } from '@walcast/logger';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SlotStatus } from './replication/slot-monitor';

const STATES = ['starting', 'streaming', 'standby', 'retrying', 'stopping', 'stopped'] as const;

/** Live values read at scrape time. */
export interface IngesterGauges {
  state(): string;
  redisReady(): boolean;
  confirmedLsn(): bigint;
  slot(): SlotStatus | null;
}

export class IngesterMetrics {
  readonly registry = new Registry();
  readonly changesPublished: Counter;
  readonly bytesPublished: Counter;
  readonly commitToPublish: Histogram;
  readonly redisErrors: Counter;
  readonly sessions: Counter;
  readonly subscriberHolds: Counter;
  readonly subscribersClosed: Counter;
  readonly broadcastsPublished: Counter;
  readonly broadcastsDropped: Counter<'reason'>;
  readonly messagesDeleted: Counter;
  readonly retentionFailures: Counter;

  constructor(gauges: IngesterGauges) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'walcast_ingester_state',
      help: '1 for the state the ingester is in (streaming: the leader; standby: another holds the slot).',
      labelNames: ['state'],
      registers,
      collect() {
        const current = gauges.state();
        for (const state of STATES) this.set({ state }, state === current ? 1 : 0);
      },
    });
    const gauge = (name: string, help: string, read: () => number | null): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const value = read();
          if (value === null) this.reset();
          else this.set(value);
        },
      });
    };
    gauge('walcast_ingester_redis_ready', '1 while the Redis connection is ready.', () =>
      gauges.redisReady() ? 1 : 0,
    );
    gauge(
      'walcast_ingester_confirmed_lsn',
      'Last LSN this ingester confirmed to PostgreSQL, as a number (0 before the first).',
      () => Number(gauges.confirmedLsn()),
    );
    gauge(
      'walcast_slot_retained_wal_bytes',
      'WAL the replication slot keeps on the server (current LSN − restart_lsn).',
      () => gauges.slot()?.retainedBytes ?? null,
    );
    gauge(
      'walcast_slot_confirmed_lag_bytes',
      'Bytes between the server’s current LSN and the slot’s confirmed_flush_lsn.',
      () => gauges.slot()?.confirmedLagBytes ?? null,
    );
    gauge('walcast_slot_active', '1 while some process streams from the slot.', () => {
      const slot = gauges.slot();
      return slot ? (slot.active ? 1 : 0) : null;
    });
    gauge(
      'walcast_slot_lost',
      '1 when max_slot_wal_keep_size invalidated the slot (wal_status lost).',
      () => {
        const slot = gauges.slot();
        return slot ? (slot.walStatus === 'lost' ? 1 : 0) : null;
      },
    );
    this.changesPublished = new Counter({
      name: 'walcast_ingester_changes_published_total',
      help: 'Changes Redis accepted.',
      registers,
    });
    this.bytesPublished = new Counter({
      name: 'walcast_ingester_bytes_published_total',
      help: 'Bytes of bus messages Redis accepted.',
      registers,
    });
    this.commitToPublish = new Histogram({
      name: 'walcast_ingester_commit_to_publish_seconds',
      help: 'Per transaction: from its commit (PostgreSQL’s clock) to Redis having accepted all its changes.',
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.redisErrors = new Counter({
      name: 'walcast_ingester_redis_errors_total',
      help: 'Redis connection errors.',
      registers,
    });
    this.sessions = new Counter({
      name: 'walcast_ingester_stream_sessions_total',
      help: 'Replication sessions started (more than one means reconnects or failovers).',
      registers,
    });
    this.subscriberHolds = new Counter({
      name: 'walcast_ingester_subscriber_holds_total',
      help: 'Times WAL reading was held because a Redis subscriber (a gateway) fell behind.',
      registers,
    });
    this.subscribersClosed = new Counter({
      name: 'walcast_ingester_subscribers_closed_total',
      help: 'Gateway subscriber connections closed in Redis because they fell too far behind alone.',
      registers,
    });
    this.broadcastsPublished = new Counter({
      name: 'walcast_ingester_broadcasts_published_total',
      help: 'Messages sent from the database (realtime.send) that Redis accepted on their broadcast topic.',
      registers,
    });
    this.broadcastsDropped = new Counter({
      name: 'walcast_ingester_broadcasts_dropped_total',
      help:
        'Rows of realtime.messages that could not be broadcast: reason invalid (no topic or event, both or ' +
        'neither payload) or too_large (over MAX_BROADCAST_BYTES).',
      labelNames: ['reason'],
      registers,
    });
    this.messagesDeleted = new Counter({
      name: 'walcast_ingester_messages_deleted_total',
      help: 'Rows of realtime.messages deleted for being older than MESSAGE_RETENTION.',
      registers,
    });
    this.retentionFailures = new Counter({
      name: 'walcast_ingester_retention_failures_total',
      help: 'Retention runs that failed (logged as RetentionFailed; the next run tries again).',
      registers,
    });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
