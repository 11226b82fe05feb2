/**
 * The ingester's settings: the only place that reads the environment. The original server's names
 * (DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD, SLOT_NAME) keep their meaning; DATABASE_URL is
 * an alternative to the DB_* parts.
 */
import {
  ConfigError,
  bool,
  bytes,
  REDIS_CLUSTER_NODES,
  defaultInstanceId,
  durationMs,
  host,
  int,
  loadConfig,
  metricsListenerProblems,
  oneOf,
  str,
  url,
} from '@walcast/config';
import { redisTarget, type RedisTarget } from '@walcast/bus';
import { LOG_LEVELS, type LogLevel } from '@walcast/logger';
import type { ClientConfig } from 'pg';

export const ingesterSchema = {
  DATABASE_URL: url({
    doc: 'PostgreSQL connection URL; an alternative to the DB_* settings.',
    schemes: ['postgres', 'postgresql'],
    secret: true,
  }),
  DB_HOST: str({ doc: 'PostgreSQL host (when DATABASE_URL is not set).' }),
  DB_PORT: int({ doc: 'PostgreSQL port.', default: 5432, min: 1, max: 65535 }),
  DB_NAME: str({ doc: 'Database whose changes are streamed.', default: 'postgres' }),
  DB_USER: str({ doc: 'User with the REPLICATION attribute.', default: 'postgres' }),
  DB_PASSWORD: str({ doc: 'Password of DB_USER.', secret: true }),
  SLOT_NAME: str({
    doc: 'Permanent logical replication slot (pgoutput), created when missing, never dropped.',
    default: 'walcast',
    pattern: /^[a-z0-9_]{1,63}$/,
    patternText: 'lower-case letters, digits and _ (at most 63)',
  }),
  PUBLICATION: str({ doc: 'Publication whose tables are streamed.', default: 'supabase_realtime' }),
  REDIS_URL: url({
    doc: 'Redis the changes are published to. Required unless REDIS_CLUSTER_NODES is set.',
    schemes: ['redis', 'rediss'],
  }),
  REDIS_CLUSTER_NODES,
  HEALTH_PORT: int({
    doc: 'HTTP port of /healthz and /readyz; of /metrics too unless METRICS_PORT is set.',
    default: 9100,
    min: 0,
    max: 65535,
  }),
  HEALTH_HOST: host({
    doc: 'Address HEALTH_PORT listens on. Default: every interface, IPv6 and IPv4.',
  }),
  METRICS_PORT: int({
    doc:
      'A second port serving /metrics, /healthz and /readyz: when set, HEALTH_PORT answers 404 for ' +
      '/metrics. Unset: everything on HEALTH_PORT.',
    min: 1,
    max: 65535,
  }),
  METRICS_HOST: host({ doc: 'Address METRICS_PORT listens on. Default: HEALTH_HOST.' }),
  LOG_LEVEL: oneOf(LOG_LEVELS, { doc: 'pino log level.', default: 'info' }),
  STATUS_INTERVAL: durationMs({
    doc: 'Longest time between two standby status updates to PostgreSQL.',
    default: 10_000,
  }),
  MAX_IN_FLIGHT: int({
    doc: 'Changes published but not yet accepted by Redis before WAL reading pauses.',
    default: 5_000,
    min: 1,
  }),
  MAX_IN_FLIGHT_BYTES: bytes({
    doc: 'Bytes published but not yet accepted by Redis before WAL reading pauses.',
    default: 64 * 1024 * 1024,
  }),
  INSTANCE_ID: str({
    doc: 'Names this ingester in bus envelopes and logs (default: host name, pid and a random suffix).',
  }),
  RECONNECT_MAX_DELAY: durationMs({ doc: 'Upper bound of the jittered reconnect backoff.', default: 10_000 }),
  SUBSCRIBER_BACKLOG_PAUSE: bytes({
    doc:
      'WAL reading is held while Redis subscribers (gateways) have more than this unread in Redis, ' +
      'until they are under half of it, so Redis never drops a gateway during a burst too fast for ' +
      'the gateways in general (client-output-buffer-limit pubsub). 0 turns this off.',
    default: 4 * 1024 * 1024,
  }),
  SUBSCRIBER_BACKLOG_LONE_WAIT: durationMs({
    doc:
      'How long a subscriber behind alone (while most keep up: a stalled gateway) is waited for ' +
      'before it is ignored, so one gateway cannot slow the others down.',
    default: 300,
  }),
  SUBSCRIBER_BACKLOG_MAX_WAIT: durationMs({
    doc: 'How long a subscriber holding WAL reading, even with others behind too, is waited for before it is ignored.',
    default: 10_000,
  }),
  SUBSCRIBER_BACKLOG_CLOSE: bytes({
    doc:
      'A gateway no longer waited for is closed (CLIENT KILL) once this much is unread for it in Redis; it ' +
      'resubscribes and ends its channels with phx_error. 0 leaves it to Redis (client-output-buffer-limit).',
    default: 16 * 1024 * 1024,
  }),
  SUBSCRIBER_CHECK_INTERVAL: durationMs({
    doc: 'How often subscriber backlogs are read (CLIENT LIST TYPE pubsub).',
    default: 50,
  }),
  SLOT_LAG_WARN: bytes({
    doc: 'WAL retained by the slot above which a warning is logged (and `walcast_slot_retained_wal_bytes` alerts).',
    default: 1024 * 1024 * 1024,
  }),
  SLOT_CHECK_INTERVAL: durationMs({
    doc: 'How often the slot (retained WAL, confirmed position, wal_status) is read for metrics and warnings.',
    default: 10_000,
  }),
  MANAGE_SCHEMA: bool({
    doc:
      'Create and upgrade the `realtime` schema (realtime.messages, realtime.send() and the others, the ' +
      '`walcast_messages` publication) at start, before reporting ready. false: only check that the ' +
      'objects exist, log what is missing and stream without broadcasts from the database ' +
      '([realtime-schema.md](realtime-schema.md) has the SQL).',
    default: true,
  }),
  MAX_BROADCAST_BYTES: bytes({
    doc:
      'Largest payload of a message sent from the database (its JSON text, or its binary_payload); larger ' +
      'ones are dropped, counted in `walcast_ingester_broadcasts_dropped_total` and logged.',
    default: 262_144,
  }),
  MESSAGE_RETENTION: durationMs({
    doc:
      'Rows of realtime.messages older than this are deleted, in batches (`infinity`: never). Replay reads ' +
      'no further back than this.',
    default: 72 * 3_600_000,
    allowInfinity: true,
  }),
  MESSAGE_RETENTION_INTERVAL: durationMs({
    doc: 'How often old rows of realtime.messages are looked for (by the ingester that holds the slot).',
    default: 600_000,
  }),
  HISTORY: bool({
    doc:
      'Keep the recent changes of every table in Redis (one stream per table, written atomically with ' +
      'each publish), so gateways catch up after losing Redis and clients resume with `since` ' +
      '([resume.md](resume.md)). false: publish only; a gap ends channels with phx_error.',
    default: true,
  }),
  HISTORY_MAX_LEN: int({
    doc: 'Most changes kept per table (approximately: up to about a quarter more, as Redis trims whole stream entries and nodes).',
    default: 10_000,
    min: 1,
  }),
  HISTORY_TTL: durationMs({
    doc:
      'Changes committed longer ago than this are dropped from the history (checked every HISTORY_TTL/10, ' +
      'at most every minute).',
    default: 3_600_000,
  }),
} as const;

export type IngesterConfig = Readonly<{
  pg: ClientConfig;
  /** host:port/db, for logs (no credentials). */
  pgTarget: string;
  slotName: string;
  publication: string;
  /** One Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES). */
  redis: RedisTarget;
  /** Both were set: REDIS_URL is ignored (said at start). */
  redisUrlIgnored: boolean;
  healthPort: number;
  /** `undefined`: every interface. */
  healthHost: string | undefined;
  /** `null`: /metrics is served on `healthPort`. */
  metricsPort: number | null;
  metricsHost: string | undefined;
  logLevel: LogLevel;
  statusIntervalMs: number;
  maxInFlight: number;
  maxInFlightBytes: number;
  instanceId: string;
  reconnectMaxDelayMs: number;
  subscriberPauseBytes: number;
  subscriberLoneWaitMs: number;
  subscriberMaxWaitMs: number;
  subscriberCloseBytes: number;
  subscriberCheckIntervalMs: number;
  slotLagWarnBytes: number;
  slotCheckIntervalMs: number;
  manageSchema: boolean;
  maxBroadcastBytes: number;
  /** `Infinity`: messages are kept. */
  messageRetentionMs: number;
  messageRetentionIntervalMs: number;
  /** null: no history. */
  history: { maxLen: number; ttlMs: number } | null;
}>;

/** Reads and validates the environment; throws ConfigError listing every problem. */
export function readConfig(env: Readonly<Record<string, string | undefined>> = process.env): IngesterConfig {
  const problems: string[] = [];
  let e: ReturnType<typeof loadConfig<typeof ingesterSchema>> | undefined;
  try {
    e = loadConfig(ingesterSchema, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (!env.REDIS_URL?.trim() && !env.REDIS_CLUSTER_NODES?.trim()) {
    problems.push('REDIS_URL or REDIS_CLUSTER_NODES is required: where Redis runs');
  }
  if (!env.DATABASE_URL?.trim() && !env.DB_HOST?.trim()) {
    problems.push('DATABASE_URL or DB_HOST is required: where PostgreSQL runs');
  }
  if (e)
    problems.push(...metricsListenerProblems('HEALTH_PORT', e.HEALTH_PORT, e.METRICS_PORT, e.METRICS_HOST));
  if (e && e.MESSAGE_RETENTION <= 0)
    problems.push('MESSAGE_RETENTION: must be more than 0 (`infinity` keeps messages forever)');
  if (e && e.MESSAGE_RETENTION_INTERVAL <= 0)
    problems.push('MESSAGE_RETENTION_INTERVAL: must be more than 0');
  if (e && e.HISTORY_TTL < 1000) problems.push('HISTORY_TTL: must be at least 1s');
  if (problems.length > 0 || !e) throw new ConfigError(problems);
  const pg: ClientConfig = e.DATABASE_URL
    ? { connectionString: e.DATABASE_URL }
    : {
        host: e.DB_HOST,
        port: e.DB_PORT,
        database: e.DB_NAME,
        user: e.DB_USER,
        ...(e.DB_PASSWORD ? { password: e.DB_PASSWORD } : {}),
      };
  const target = e.DATABASE_URL ? new URL(e.DATABASE_URL) : null;
  return Object.freeze({
    pg,
    pgTarget: target
      ? `${target.hostname}:${target.port || 5432}${target.pathname}`
      : `${e.DB_HOST}:${e.DB_PORT}/${e.DB_NAME}`,
    slotName: e.SLOT_NAME,
    publication: e.PUBLICATION,
    redis: redisTarget(e.REDIS_URL, e.REDIS_CLUSTER_NODES),
    redisUrlIgnored: e.REDIS_URL !== undefined && e.REDIS_CLUSTER_NODES !== undefined,
    healthPort: e.HEALTH_PORT,
    healthHost: e.HEALTH_HOST,
    metricsPort: e.METRICS_PORT ?? null,
    metricsHost: e.METRICS_HOST ?? e.HEALTH_HOST,
    logLevel: e.LOG_LEVEL,
    statusIntervalMs: e.STATUS_INTERVAL,
    maxInFlight: e.MAX_IN_FLIGHT,
    maxInFlightBytes: e.MAX_IN_FLIGHT_BYTES,
    instanceId: e.INSTANCE_ID ?? defaultInstanceId(),
    reconnectMaxDelayMs: e.RECONNECT_MAX_DELAY,
    subscriberPauseBytes: e.SUBSCRIBER_BACKLOG_PAUSE,
    subscriberLoneWaitMs: e.SUBSCRIBER_BACKLOG_LONE_WAIT,
    subscriberMaxWaitMs: e.SUBSCRIBER_BACKLOG_MAX_WAIT,
    subscriberCloseBytes: e.SUBSCRIBER_BACKLOG_CLOSE,
    subscriberCheckIntervalMs: e.SUBSCRIBER_CHECK_INTERVAL,
    slotLagWarnBytes: e.SLOT_LAG_WARN,
    slotCheckIntervalMs: e.SLOT_CHECK_INTERVAL,
    manageSchema: e.MANAGE_SCHEMA,
    maxBroadcastBytes: e.MAX_BROADCAST_BYTES,
    messageRetentionMs: e.MESSAGE_RETENTION,
    messageRetentionIntervalMs: e.MESSAGE_RETENTION_INTERVAL,
    history: e.HISTORY ? { maxLen: e.HISTORY_MAX_LEN, ttlMs: e.HISTORY_TTL } : null,
  });
}
