/**
 * The gateway's Prometheus metrics (`/metrics` on PORT). One registry per server, so several
 * servers in one process (tests) never share counters.
 *
 * Labels are bounded by construction: results, stages and reason codes come from fixed sets in the
 * code; no topic, table, user or token ever becomes a label.
 */
import { LATENCY_BUCKETS_SECONDS } from '@walcast/logger';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type JoinResult = 'ok' | 'error' | 'unauthorized';
export type AuthStage = 'connect' | 'join' | 'refresh' | 'expiry' | 'rest';
/**
 * Why a socket closed: by the gateway (backpressure, idle, shutdown, join_rate, frame_too_large)
 * or not (client, lost).
 */
export type CloseReason =
  | 'client'
  | 'lost'
  | 'backpressure'
  | 'idle'
  | 'shutdown'
  | 'join_rate'
  | 'broadcast_rate'
  | 'frame_too_large';
const CLOSE_REASONS: readonly CloseReason[] = [
  'client',
  'lost',
  'backpressure',
  'idle',
  'shutdown',
  'join_rate',
  'broadcast_rate',
  'frame_too_large',
];

/** The client limits (see config.ts), as metric labels. */
export type LimitName =
  | 'frame_bytes'
  | 'frame_depth'
  | 'topic_bytes'
  | 'filter_bytes'
  | 'binding_bytes'
  | 'bindings'
  | 'channels'
  | 'join_rate'
  | 'subscriptions'
  | 'broadcast_bytes'
  | 'broadcast_rate'
  | 'presence';
const LIMIT_NAMES: readonly LimitName[] = [
  'frame_bytes',
  'frame_depth',
  'topic_bytes',
  'filter_bytes',
  'binding_bytes',
  'bindings',
  'channels',
  'join_rate',
  'subscriptions',
  'broadcast_bytes',
  'broadcast_rate',
  'presence',
];

/** Where a broadcast came from: a socket of this gateway, its REST API, or Redis (other gateways, the database). */
export type BroadcastOrigin = 'websocket' | 'rest' | 'bus';
/** Why a broadcast was not sent (or not to some sockets). */
export type BroadcastDrop = 'too_large' | 'rate' | 'unauthorized' | 'malformed' | 'no_frame';

/** The statuses the REST broadcast API answers with (a fixed set, so a bounded label). */
export const REST_STATUSES = [
  '202',
  '400',
  '401',
  '403',
  '404',
  '413',
  '415',
  '422',
  '429',
  '500',
  '503',
] as const;
export type RestStatus = (typeof REST_STATUSES)[number];

/** Live values read at scrape time. */
export interface GatewayGauges {
  connections(): number;
  channels(): number;
  deliveryGroups(): number;
  busSubscriptions(): number;
  redisReady(): boolean;
  draining(): boolean;
}

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly joins: Counter<'result'>;
  readonly authRefusals: Counter<'stage' | 'reason'>;
  readonly protocolErrors: Counter;
  readonly changesIn: Counter;
  readonly badBusMessages: Counter;
  readonly framesOut: Counter;
  readonly bytesOut: Counter;
  readonly publishToSend: Histogram;
  readonly streamGaps: Counter;
  readonly missedChanges: Counter;
  readonly duplicatesDropped: Counter;
  readonly catchUps: Counter<'result'>;
  readonly catchUpChanges: Counter;
  readonly replays: Counter<'result'>;
  readonly replayedChanges: Counter;
  readonly redisErrors: Counter;
  readonly closes: Counter<'reason'>;
  readonly channelsFailed: Counter<'reason'>;
  readonly limitRefusals: Counter<'limit'>;
  readonly rowAuthVerdicts: Counter<'path' | 'verdict'>;
  readonly rowAuthUnavailable: Counter;
  readonly rowAuthBatchSeconds: Histogram;
  readonly broadcastsIn: Counter<'origin'>;
  readonly broadcastsDropped: Counter<'reason'>;
  readonly broadcastDeliveries: Counter;
  readonly broadcastLatency: Histogram;
  readonly presenceTracks: Counter<'result'>;
  readonly channelAuthCheckSeconds: Histogram<'check' | 'outcome'>;
  readonly restRequests: Counter<'status'>;
  readonly presenceGatewaysSwept: Counter;
  readonly presenceResyncs: Counter<'reason'>;
  readonly presenceMalformedEntries: Counter;
  readonly presenceListSeconds: Histogram;

  constructor(gauges: GatewayGauges) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('walcast_gateway_connections', 'Open websocket connections.', gauges.connections);
    gauge('walcast_gateway_channels', 'Joined channels, summed over connections.', gauges.channels);
    gauge(
      'walcast_gateway_delivery_groups',
      'Groups of channels that receive identical frames.',
      gauges.deliveryGroups,
    );
    gauge(
      'walcast_gateway_bus_subscriptions',
      'Redis subscriptions (topics and patterns) held.',
      gauges.busSubscriptions,
    );
    gauge('walcast_gateway_redis_ready', '1 while both Redis connections are ready.', () =>
      gauges.redisReady() ? 1 : 0,
    );
    gauge('walcast_gateway_draining', '1 once SIGTERM was received.', () => (gauges.draining() ? 1 : 0));
    this.joins = new Counter({
      name: 'walcast_gateway_joins_total',
      help: 'Channel joins by result (unauthorized: refused for its token).',
      labelNames: ['result'],
      registers,
    });
    this.authRefusals = new Counter({
      name: 'walcast_gateway_auth_refusals_total',
      help: 'Tokens refused, by stage (connect, join, refresh, expiry, rest: the REST broadcast API) and reason code.',
      labelNames: ['stage', 'reason'],
      registers,
    });
    this.protocolErrors = new Counter({
      name: 'walcast_gateway_protocol_errors_total',
      help: 'Malformed or unexpected frames answered with ProtocolViolation.',
      registers,
    });
    this.changesIn = new Counter({
      name: 'walcast_gateway_changes_in_total',
      help: 'Change messages received from Redis (once per subscription they arrived through).',
      registers,
    });
    this.badBusMessages = new Counter({
      name: 'walcast_gateway_bad_bus_messages_total',
      help: 'Redis messages that could not be decoded or delivered.',
      registers,
    });
    this.framesOut = new Counter({
      name: 'walcast_gateway_frames_out_total',
      help: 'Change frames sent to sockets.',
      registers,
    });
    this.bytesOut = new Counter({
      name: 'walcast_gateway_bytes_out_total',
      help: 'Bytes of change frames sent to sockets (payload, before websocket framing).',
      registers,
    });
    this.publishToSend = new Histogram({
      name: 'walcast_gateway_publish_to_send_seconds',
      help: 'From the ingester publishing a change to this gateway handing its frames to the sockets.',
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.streamGaps = new Counter({
      name: 'walcast_gateway_stream_gaps_total',
      help: 'Gaps in the per-ingester sequence of a subscribed topic (changes Redis did not deliver).',
      registers,
    });
    this.missedChanges = new Counter({
      name: 'walcast_gateway_missed_changes_total',
      help: 'Changes missing in those gaps.',
      registers,
    });
    this.duplicatesDropped = new Counter({
      name: 'walcast_gateway_duplicates_dropped_total',
      help: 'Changes received again (an ingester restart, or read from the history too) and not sent twice.',
      registers,
    });
    this.catchUps = new Counter({
      name: 'walcast_gateway_catch_ups_total',
      help:
        'Subscriptions that caught up from the change history after a Redis loss or a gap (ok), or could ' +
        'not (gap: the history no longer covers it; failed: it could not be read) and ended their channels.',
      labelNames: ['result'],
      registers,
    });
    this.catchUpChanges = new Counter({
      name: 'walcast_gateway_catch_up_changes_total',
      help: 'Changes read from the history while catching up.',
      registers,
    });
    this.replays = new Counter({
      name: 'walcast_gateway_replays_total',
      help:
        'Joins with `since`: replayed from the history (ok), told of a HistoryGap (gap), or ended because ' +
        'the history could not be read (failed).',
      labelNames: ['result'],
      registers,
    });
    this.replayedChanges = new Counter({
      name: 'walcast_gateway_replayed_changes_total',
      help: 'Changes read from the history for joins with `since`.',
      registers,
    });
    this.redisErrors = new Counter({
      name: 'walcast_gateway_redis_errors_total',
      help: 'Redis connection errors.',
      registers,
    });
    this.closes = new Counter({
      name: 'walcast_gateway_closes_total',
      help:
        'Closed sockets by reason: client (close frame from the client), lost (no close frame: network ' +
        'loss, or the backpressure limit hit during fan-out), backpressure (a direct send over the ' +
        'limit), idle (SOCKET_TIMEOUT), shutdown (drain), join_rate (MAX_JOINS_PER_SECOND), broadcast_rate (MAX_SOCKET_BROADCASTS_PER_SECOND), ' +
        'frame_too_large (MAX_FRAME_SIZE).',
      labelNames: ['reason'],
      registers,
    });
    this.channelsFailed = new Counter({
      name: 'walcast_gateway_channels_failed_total',
      help:
        'Channels ended with phx_error because they may have missed changes (gap: a sequence gap; ' +
        'redis: Redis came back after an outage); clients rejoin by themselves.',
      labelNames: ['reason'],
      registers,
    });
    this.limitRefusals = new Counter({
      name: 'walcast_gateway_limit_refusals_total',
      help:
        'Client requests refused for a limit (frame_bytes: MAX_FRAME_SIZE, frame_depth, topic_bytes, ' +
        'filter_bytes, binding_bytes, bindings, channels, join_rate, subscriptions, broadcast_bytes, broadcast_rate, presence (a presence limit); see the configuration).',
      labelNames: ['limit'],
      registers,
    });
    this.rowAuthVerdicts = new Counter({
      name: 'walcast_gateway_row_auth_verdicts_total',
      help:
        'Row-level security verdicts by path (compiled: in memory; database: evaluated by PostgreSQL) ' +
        'and verdict (visible, hidden, error: the policy raised).',
      labelNames: ['path', 'verdict'],
      registers,
    });
    this.rowAuthUnavailable = new Counter({
      name: 'walcast_gateway_row_auth_unavailable_total',
      help: 'Changes not sent to a channel because they could not be authorized (database unreachable or slow).',
      registers,
    });
    this.rowAuthBatchSeconds = new Histogram({
      name: 'walcast_gateway_row_auth_batch_seconds',
      help: 'Duration of one database evaluation of row-level security policies (one transaction).',
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.broadcastsIn = new Counter({
      name: 'walcast_gateway_broadcasts_in_total',
      help: 'Broadcast messages received, by origin (websocket: a client of this gateway; rest: the REST API; bus: Redis, from other gateways and the database).',
      labelNames: ['origin'],
      registers,
    });
    this.broadcastsDropped = new Counter({
      name: 'walcast_gateway_broadcasts_dropped_total',
      help:
        'Broadcast messages not sent, by reason (too_large: MAX_BROADCAST_BYTES; rate: a broadcast rate ' +
        'limit; unauthorized: no write permission on a private channel; malformed: undecodable; ' +
        'no_frame: a binary payload for vsn 1.0.0 sockets, counted once per message).',
      labelNames: ['reason'],
      registers,
    });
    this.broadcastDeliveries = new Counter({
      name: 'walcast_gateway_broadcast_deliveries_total',
      help: 'Broadcast frames handed to sockets (one per receiving socket).',
      registers,
    });
    this.broadcastLatency = new Histogram({
      name: 'walcast_gateway_broadcast_latency_seconds',
      help: 'From a broadcast being published to Redis (by another gateway or the ingester) to this gateway handing it to its sockets.',
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.channelAuthCheckSeconds = new Histogram({
      name: 'walcast_gateway_channel_auth_check_seconds',
      help:
        'Private channel checks against the policies on realtime.messages (identical concurrent questions ' +
        'count once), by check (read, write) and outcome (allowed, denied, refused: the role or a value was ' +
        'refused or a policy raised; unavailable: the database did not answer in time; unusable: the ' +
        "gateway's role cannot insert into realtime.messages).",
      labelNames: ['check', 'outcome'],
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    this.restRequests = new Counter({
      name: 'walcast_gateway_rest_requests_total',
      help:
        'REST broadcast API requests (POST /api/broadcast, /api/broadcast/:topic/events/:event) by the ' +
        'HTTP status answered (202 accepted; 401 token; 413 body too large; 415 content type; 422 invalid; ' +
        '429 MAX_REST_BROADCASTS_PER_SECOND; 503 Redis did not take it).',
      labelNames: ['status'],
      registers,
    });
    for (const status of REST_STATUSES) this.restRequests.inc({ status }, 0);
    this.presenceGatewaysSwept = new Counter({
      name: 'walcast_gateway_presence_gateways_swept_total',
      help: 'Gateways whose presence lease lapsed and whose presences this gateway removed (publishing their leaves).',
      registers,
    });
    this.presenceResyncs = new Counter({
      name: 'walcast_gateway_presence_resyncs_total',
      help:
        'Times this gateway re-asserted its presences in Redis, by reason (reconnect: Redis came back; ' +
        'lease: its lease was missing, swept or lost; retry: after a failed presence command).',
      labelNames: ['reason'],
      registers,
    });
    this.presenceMalformedEntries = new Counter({
      name: 'walcast_gateway_presence_malformed_entries_total',
      help: 'Stored presence entries skipped when a channel’s presence state was read, for not being valid entries.',
      registers,
    });
    this.presenceListSeconds = new Histogram({
      name: 'walcast_gateway_presence_list_seconds',
      help: 'Reading one channel’s whole presence state from Redis (one round trip, parsing included).',
      buckets: [...LATENCY_BUCKETS_SECONDS],
      registers,
    });
    for (const reason of ['reconnect', 'lease', 'retry'] as const) this.presenceResyncs.inc({ reason }, 0);
    this.presenceTracks = new Counter({
      name: 'walcast_gateway_presence_tracks_total',
      help: 'Presence tracks recorded in Redis (ok), or not (error: Redis unavailable).',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['ok', 'error'] as const) this.presenceTracks.inc({ result }, 0);
    // Make every labelled series visible from the start, at 0.
    for (const origin of ['websocket', 'rest', 'bus'] as const) this.broadcastsIn.inc({ origin }, 0);
    for (const reason of ['too_large', 'rate', 'unauthorized', 'malformed', 'no_frame'] as const)
      this.broadcastsDropped.inc({ reason }, 0);
    for (const limit of LIMIT_NAMES) this.limitRefusals.inc({ limit }, 0);
    for (const path of ['compiled', 'database'] as const)
      for (const verdict of ['visible', 'hidden', 'error'] as const)
        this.rowAuthVerdicts.inc({ path, verdict }, 0);
    for (const reason of ['gap', 'redis'] as const) this.channelsFailed.inc({ reason }, 0);
    for (const result of ['ok', 'error', 'unauthorized'] as const) this.joins.inc({ result }, 0);
    for (const reason of CLOSE_REASONS) this.closes.inc({ reason }, 0);
  }

  /** The Prometheus text exposition. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
