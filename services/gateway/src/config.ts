/**
 * The gateway's settings: the only place that reads the environment (hence its length: every
 * setting, its documentation and its checks are here). The original server's names
 * (PORT, SOCKET_TIMEOUT, SECURE_CHANNELS, JWT_SECRET, JWT_CLAIM_VALIDATORS) keep their meaning.
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
  jsonObject,
  loadConfig,
  metricsListenerProblems,
  oneOf,
  str,
  url,
} from '@walcast/config';
import { redisTarget, type RedisTarget } from '@walcast/bus';
import { LOG_LEVELS, type LogLevel } from '@walcast/logger';

export const gatewaySchema = {
  PORT: int({
    doc: 'Port of the websocket endpoints and of /healthz and /readyz; of /metrics too unless METRICS_PORT is set.',
    default: 4000,
    min: 0,
    max: 65535,
  }),
  HOST: host({ doc: 'Address PORT listens on (0.0.0.0: every IPv4 interface).', default: '0.0.0.0' }),
  METRICS_PORT: int({
    doc:
      'A second port serving /metrics, /healthz and /readyz, to keep metrics off the public listener: ' +
      'when set, PORT answers 404 for /metrics. Unset: everything on PORT.',
    min: 1,
    max: 65535,
  }),
  METRICS_HOST: host({
    doc: 'Address METRICS_PORT listens on. Default: HOST (never wider than the public listener).',
  }),
  REDIS_URL: url({
    doc: 'Redis the ingester publishes changes to. Required unless REDIS_CLUSTER_NODES is set.',
    schemes: ['redis', 'rediss'],
  }),
  REDIS_CLUSTER_NODES,
  SOCKET_TIMEOUT: durationMs({
    doc: 'A socket with no inbound frame (heartbeats included) for this long is closed, as in the original server.',
    default: 60_000,
    allowInfinity: true,
  }),
  LOG_LEVEL: oneOf(LOG_LEVELS, { doc: 'pino log level.', default: 'info' }),
  MAX_BACKPRESSURE: bytes({
    doc:
      'Bytes buffered for one slow socket before it is closed (the client reconnects and rejoins); ' +
      'other sockets are unaffected.',
    default: 16 * 1024 * 1024,
  }),
  MAX_FRAME_SIZE: bytes({
    doc:
      'Largest inbound websocket message; a larger one closes the socket (1009). Parsing a message ' +
      'costs the gateway’s thread about 17 ms per MB, so keep it near the largest payload clients send ' +
      '(the original server allows 5,000,000).',
    default: 1024 * 1024,
  }),
  MAX_FRAME_DEPTH: int({
    doc: 'Deepest nesting of arrays and objects in an inbound frame; a deeper one is answered with ProtocolViolation.',
    default: 64,
    min: 4,
    max: 1000,
  }),
  MAX_TOPIC_LENGTH: int({
    doc:
      'Longest channel topic in bytes, `realtime:` included (for a legacy topic, the part before its ' +
      'filter); a longer join is refused with TopicTooLong.',
    default: 256,
    min: 16,
    max: 65_536,
  }),
  MAX_FILTER_LENGTH: int({
    doc: 'Longest row filter in bytes (a legacy topic’s filter part, or one binding’s `filter`); a longer one is refused with TopicTooLong.',
    default: 4096,
    min: 16,
    max: 1_048_576,
  }),
  MAX_BINDINGS_PER_JOIN: int({
    doc: 'Most `postgres_changes` bindings one join may ask for; more are refused with TooManyBindings.',
    default: 100,
    min: 1,
    max: 100_000,
  }),
  MAX_CHANNELS_PER_SOCKET: int({
    doc: 'Most channels one socket may have joined at once (the original server’s default); one more is refused with ChannelRateLimitReached.',
    default: 100,
    min: 1,
    max: 100_000,
  }),
  MAX_JOINS_PER_SECOND: int({
    doc:
      'Joins one socket may send per second (a burst of as many is allowed); past it the join is ' +
      'refused with ClientJoinRateLimitReached and the socket closed (4004), as the original server does.',
    default: 100,
    min: 1,
    max: 1_000_000,
  }),
  MAX_BUS_SUBSCRIPTIONS: int({
    doc:
      'Most distinct Redis subscriptions (tables, schemas, `*`) this gateway holds; a join that needs ' +
      'one more is refused with SubscriptionLimitReached.',
    default: 10_000,
    min: 1,
    max: 10_000_000,
  }),
  MAX_BROADCAST_BYTES: bytes({
    doc:
      'Largest broadcast payload (the JSON text of a pushed message, or the bytes of a binary one); a ' +
      'larger one is refused with `payload_size_exceeded` when the sender asked for acks, else dropped ' +
      'and counted. The original server measures its Free plan against 256 KB too.',
    default: 256 * 1024,
  }),
  MAX_CHANNEL_BROADCASTS_PER_SECOND: int({
    doc:
      'Broadcasts one channel may send per second (a burst of as many is allowed); past it the channel ' +
      'gets the original server’s `system` error "Too many messages per second" and is closed.',
    default: 100,
    min: 1,
    max: 1_000_000,
  }),
  MAX_SOCKET_BROADCASTS_PER_SECOND: int({
    doc:
      'Broadcasts one socket may send per second over all its channels; past it the channel that sent ' +
      'gets the same `system` error and the socket is closed (4005; the client reconnects with backoff).',
    default: 500,
    min: 1,
    max: 1_000_000,
  }),
  CLIENT_PRESENCE_MAX_CALLS: int({
    doc:
      'Presence calls (track, untrack) one channel may make per CLIENT_PRESENCE_WINDOW_MS, as the original ' +
      'server; one more gets the `system` error "Client presence rate limit exceeded" and the channel is closed.',
    default: 5,
    min: 1,
    max: 1_000_000,
  }),
  CLIENT_PRESENCE_WINDOW_MS: durationMs({
    doc: 'The window of CLIENT_PRESENCE_MAX_CALLS (milliseconds, or a duration like "30s").',
    default: 30_000,
  }),
  MAX_PRESENCE_BYTES: bytes({
    doc:
      'Largest tracked presence payload (its JSON text); a larger track gets the `system` error "Track ' +
      'message size exceeded" and the channel is closed.',
    default: 64 * 1024,
  }),
  MAX_PRESENCE_EVENTS_PER_SECOND: int({
    doc:
      'Presence calls this gateway accepts per second over all its sockets; past it the calling channel ' +
      'gets the `system` error "Too many presence messages per second" and is closed.',
    default: 1000,
    min: 1,
    max: 10_000_000,
  }),
  PRIVATE_ONLY: bool({
    doc:
      'Refuse joins of public channels ("PrivateOnly: This project only allows private channels"), as the ' +
      'original server’s private-only projects; needs private channels to be served (row authorization).',
    default: false,
  }),
  JOIN_TIMEOUT: durationMs({
    doc: 'How long a join waits for its Redis subscription before answering with an error.',
    default: 5_000,
  }),
  SHUTDOWN_GRACE: durationMs({
    doc: 'On SIGTERM: time to close sockets (code 4000) and exit.',
    default: 10_000,
  }),
  INSTANCE_ID: str({ doc: 'Names this gateway in logs (default: host name, pid and a random suffix).' }),
  NODE_ENV: str({
    doc: 'Only decides the defaults of SECURE_CHANNELS and INSPECTOR (`production`: secure, no inspector).',
  }),
  SECURE_CHANNELS: bool({
    doc: 'Require a valid JWT to connect and to join. Default: true when NODE_ENV=production, else false.',
  }),
  INSPECTOR: bool({
    doc:
      'Serve the inspector, a page at /inspector on PORT to join a channel and watch its events live ' +
      '(docs/inspector.md). It is static and holds no setting or secret; visitors paste their own token. ' +
      'Default: true unless NODE_ENV=production.',
  }),
  JWT_SECRET: str({
    doc: 'HMAC secret for HS256/HS384/HS512 tokens (the raw string, as the original server used it).',
    secret: true,
  }),
  JWT_JWKS: jsonObject({
    doc: 'Inline JWK set (`{"keys":[…]}`) for RS*/PS*/ES*/EdDSA tokens, chosen by `kid`.',
  }),
  JWT_JWKS_URL: url({
    doc: 'URL of a JWK set for RS*/PS*/ES*/EdDSA tokens, fetched on demand and cached.',
    schemes: ['http', 'https'],
  }),
  JWT_JWKS_COOLDOWN: durationMs({
    doc: 'Least time between two fetches of JWT_JWKS_URL (an unknown `kid` triggers a refetch).',
    default: 30_000,
  }),
  JWT_CLAIM_VALIDATORS: jsonObject({
    doc: 'Claims every token must carry with exactly these values, e.g. {"iss":"supabase"}.',
    default: {},
  }),
  ROW_AUTHORIZATION: oneOf(['postgres', 'off'] as const, {
    doc:
      'postgres: each postgres_changes channel receives only the rows and columns its JWT `role`, with ' +
      'its claims, may SELECT (row-level security policies and column privileges, judged on the row ' +
      'as committed); off: every authorized channel receives every row, as the original server with ' +
      'RLS off. Default: postgres when SECURE_CHANNELS is on (it needs claims), else off.',
  }),
  DATABASE_URL: url({
    doc: 'PostgreSQL for row authorization (the same database the ingester streams); an alternative to the DB_* settings.',
    schemes: ['postgres', 'postgresql'],
    secret: true,
  }),
  RLS_DATABASE_URL: url({
    doc: 'PostgreSQL for row authorization when it should not be DATABASE_URL, e.g. a read replica of it.',
    schemes: ['postgres', 'postgresql'],
    secret: true,
  }),
  DB_HOST: str({ doc: 'PostgreSQL host for row authorization (when no URL is set).' }),
  DB_PORT: int({ doc: 'PostgreSQL port.', default: 5432, min: 1, max: 65535 }),
  DB_NAME: str({ doc: 'Database.', default: 'postgres' }),
  DB_USER: str({
    doc: 'User for row authorization: must be able to SET ROLE to every JWT role (a member of them, as Supabase’s `authenticator`).',
    default: 'postgres',
  }),
  DB_PASSWORD: str({ doc: 'Password of DB_USER.', secret: true }),
  RLS_POOL_SIZE: int({
    doc: 'Most PostgreSQL connections one gateway opens for row authorization.',
    default: 4,
    min: 1,
    max: 100,
  }),
  RLS_CHECK_TIMEOUT: durationMs({
    doc: 'A policy evaluation taking longer fails closed: the changes waiting on it are not sent and the channel is told.',
    default: 5_000,
  }),
  RLS_REFRESH_INTERVAL: durationMs({
    doc: 'How often policies, grants and table shapes are reread: changes to them take effect within this time.',
    default: 2_000,
  }),
  JWT_CLOCK_TOLERANCE: durationMs({
    doc: 'Clock skew allowed when verifying `exp` and `nbf`; a joined channel still closes at its token’s `exp`.',
    default: 5_000,
  }),
  MAX_REST_BROADCASTS_PER_SECOND: int({
    doc:
      'Messages this gateway’s REST broadcast API (`POST /api/broadcast…`) accepts per second, all callers ' +
      'together, each message of a batch counted (a burst of as many is allowed); past it the request is ' +
      'answered 429 as the original server does. A batch larger than this is always refused.',
    default: 1000,
    min: 1,
    max: 1_000_000,
  }),
  MAX_REST_BODY_BYTES: bytes({
    doc:
      'Largest REST broadcast request body; a larger one is refused with 413 as soon as its length is ' +
      'known, without reading it all. Each message’s payload is further held to MAX_BROADCAST_BYTES.',
    default: 1024 * 1024,
  }),
  PRESENCE_LEASE: durationMs({
    doc:
      'A gateway renews its presence lease every third of this; one that stops (killed, or cut off from ' +
      'Redis) has its presences removed everywhere within this plus a second (the original server takes ' +
      'about 30 s). At least 1s.',
    default: 8_000,
  }),
  HISTORY: bool({
    doc:
      'Read the change history the ingester keeps in Redis (its HISTORY): after losing Redis or seeing a gap, ' +
      'channels catch up from it instead of getting phx_error, and joins may resume with `since` ' +
      '([resume.md](resume.md)). false: a loss ends the channels with phx_error, and `since` is answered with ' +
      'a HistoryGap.',
    default: true,
  }),
} as const;

/** The least PRESENCE_LEASE: renewals every third of it must fit in a Redis round trip with room to spare. */
export const MIN_PRESENCE_LEASE_MS = 1000;

export interface AuthConfig {
  /** When false, connects and joins need no token (SECURE_CHANNELS=false). */
  isSecure: boolean;
  jwtSecret: string | null;
  jwks: { keys: Array<Record<string, unknown>> } | null;
  jwksUrl: string | null;
  jwksCooldownMs: number;
  claimValidators: Readonly<Record<string, unknown>>;
  clockToleranceMs: number;
}

/** What one client may ask of the gateway; each is refused with its own error code past the limit. */
export interface ClientLimits {
  maxFrameDepth: number;
  maxTopicBytes: number;
  maxFilterBytes: number;
  maxBindingsPerJoin: number;
  maxChannelsPerSocket: number;
  maxJoinsPerSecond: number;
  maxBusSubscriptions: number;
  maxBroadcastBytes: number;
  maxChannelBroadcastsPerSecond: number;
  maxSocketBroadcastsPerSecond: number;
}

/** Presence limits (see the settings of the same names). */
export interface PresenceLimits {
  maxCalls: number;
  windowMs: number;
  maxBytes: number;
  maxEventsPerSecond: number;
}

/** Row authorization (ROW_AUTHORIZATION=postgres): where PostgreSQL is and how it is used. */
export interface RowAuthConfig {
  /** A `pg` client configuration (a connection string, or host/port/database/user/password). */
  connection: Readonly<Record<string, string | number>>;
  /** `host:port/database`, for logs (no credentials). */
  target: string;
  poolSize: number;
  checkTimeoutMs: number;
  refreshMs: number;
}

export type GatewayConfig = Readonly<{
  port: number;
  host: string;
  /** `null`: /metrics is served on `port`. */
  metricsPort: number | null;
  metricsHost: string;
  /** One Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES). */
  redis: RedisTarget;
  /** Both were set: REDIS_URL is ignored (said at start). */
  redisUrlIgnored: boolean;
  /** Infinity disables the idle timeout. */
  socketTimeoutMs: number;
  logLevel: LogLevel;
  maxBackpressureBytes: number;
  maxFrameBytes: number;
  limits: Readonly<ClientLimits>;
  presence: Readonly<PresenceLimits>;
  /** PRIVATE_ONLY: public joins are refused. */
  privateOnly: boolean;
  joinTimeoutMs: number;
  shutdownGraceMs: number;
  instanceId: string;
  auth: Readonly<AuthConfig>;
  /** `null`: ROW_AUTHORIZATION=off. */
  rowAuth: Readonly<RowAuthConfig> | null;
  /**
   * With channels open: where PostgreSQL is, if configured, only to warn at start about published
   * tables with row-level security; else null.
   */
  database: Readonly<Pick<RowAuthConfig, 'connection' | 'target'>> | null;
  rest: Readonly<RestBroadcastConfig>;
  /** PRESENCE_LEASE. */
  presenceLeaseMs: number;
  /** HISTORY: read the change history (catch-up, `since`). */
  history: boolean;
  /** INSPECTOR: whether PORT serves the inspector page at /inspector. */
  servesInspector: boolean;
}>;

/** The REST broadcast API's own bounds (MAX_BROADCAST_BYTES and MAX_FRAME_DEPTH apply too). */
export interface RestBroadcastConfig {
  maxBroadcastsPerSecond: number;
  maxBodyBytes: number;
}

/** Reads and validates the environment; throws ConfigError listing every problem. */
export function readConfig(env: Readonly<Record<string, string | undefined>> = process.env): GatewayConfig {
  const e = loadConfig(gatewaySchema, env);
  const problems = metricsListenerProblems('PORT', e.PORT, e.METRICS_PORT, e.METRICS_HOST);
  if (e.REDIS_URL === undefined && e.REDIS_CLUSTER_NODES === undefined) {
    problems.push('REDIS_URL or REDIS_CLUSTER_NODES is required: where Redis runs');
  }
  let auth: AuthConfig | undefined;
  try {
    auth = authConfig(e);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  const rowAuth = auth ? rowAuthConfig(e, auth, problems) : null;
  if (e.PRESENCE_LEASE < MIN_PRESENCE_LEASE_MS) {
    problems.push(`PRESENCE_LEASE: expected at least ${MIN_PRESENCE_LEASE_MS}ms, got ${e.PRESENCE_LEASE}ms`);
  }
  if (problems.length > 0 || !auth) throw new ConfigError(problems);
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    metricsPort: e.METRICS_PORT ?? null,
    metricsHost: e.METRICS_HOST ?? e.HOST,
    redis: redisTarget(e.REDIS_URL, e.REDIS_CLUSTER_NODES),
    redisUrlIgnored: e.REDIS_URL !== undefined && e.REDIS_CLUSTER_NODES !== undefined,
    socketTimeoutMs: e.SOCKET_TIMEOUT,
    logLevel: e.LOG_LEVEL,
    maxBackpressureBytes: e.MAX_BACKPRESSURE,
    maxFrameBytes: e.MAX_FRAME_SIZE,
    limits: Object.freeze({
      maxFrameDepth: e.MAX_FRAME_DEPTH,
      maxTopicBytes: e.MAX_TOPIC_LENGTH,
      maxFilterBytes: e.MAX_FILTER_LENGTH,
      maxBindingsPerJoin: e.MAX_BINDINGS_PER_JOIN,
      maxChannelsPerSocket: e.MAX_CHANNELS_PER_SOCKET,
      maxJoinsPerSecond: e.MAX_JOINS_PER_SECOND,
      maxBusSubscriptions: e.MAX_BUS_SUBSCRIPTIONS,
      maxBroadcastBytes: e.MAX_BROADCAST_BYTES,
      maxChannelBroadcastsPerSecond: e.MAX_CHANNEL_BROADCASTS_PER_SECOND,
      maxSocketBroadcastsPerSecond: e.MAX_SOCKET_BROADCASTS_PER_SECOND,
    }),
    presence: Object.freeze({
      maxCalls: e.CLIENT_PRESENCE_MAX_CALLS,
      windowMs: e.CLIENT_PRESENCE_WINDOW_MS,
      maxBytes: e.MAX_PRESENCE_BYTES,
      maxEventsPerSecond: e.MAX_PRESENCE_EVENTS_PER_SECOND,
    }),
    privateOnly: e.PRIVATE_ONLY,
    joinTimeoutMs: e.JOIN_TIMEOUT,
    shutdownGraceMs: e.SHUTDOWN_GRACE,
    instanceId: e.INSTANCE_ID ?? defaultInstanceId(),
    auth: Object.freeze(auth),
    rowAuth: rowAuth && Object.freeze(rowAuth),
    database: databaseOf(e),
    rest: Object.freeze({
      maxBroadcastsPerSecond: e.MAX_REST_BROADCASTS_PER_SECOND,
      maxBodyBytes: e.MAX_REST_BODY_BYTES,
    }),
    presenceLeaseMs: e.PRESENCE_LEASE,
    history: e.HISTORY,
    servesInspector: e.INSPECTOR ?? e.NODE_ENV !== 'production',
  });
}

/** The PostgreSQL row authorization uses, from RLS_DATABASE_URL, DATABASE_URL or DB_*; null if none. */
function databaseOf(e: GatewayEnv): Pick<RowAuthConfig, 'connection' | 'target'> | null {
  const urlText = e.RLS_DATABASE_URL ?? e.DATABASE_URL;
  if (urlText) {
    const u = new URL(urlText);
    return {
      connection: { connectionString: urlText },
      target: `${u.hostname}:${u.port || 5432}${u.pathname}`,
    };
  }
  if (!e.DB_HOST) return null;
  return {
    connection: {
      host: e.DB_HOST,
      port: e.DB_PORT,
      database: e.DB_NAME,
      user: e.DB_USER,
      ...(e.DB_PASSWORD ? { password: e.DB_PASSWORD } : {}),
    },
    target: `${e.DB_HOST}:${e.DB_PORT}/${e.DB_NAME}`,
  };
}

/** ROW_AUTHORIZATION and what it needs; problems are appended. */
function rowAuthConfig(e: GatewayEnv, auth: AuthConfig, problems: string[]): RowAuthConfig | null {
  const mode = e.ROW_AUTHORIZATION ?? (auth.isSecure ? 'postgres' : 'off');
  if (mode === 'off') return null;
  if (!auth.isSecure) {
    problems.push(
      'ROW_AUTHORIZATION=postgres needs SECURE_CHANNELS=true: with channels open there are no claims to authorize rows with',
    );
    return null;
  }
  const database = databaseOf(e);
  if (!database) {
    problems.push(
      'ROW_AUTHORIZATION=postgres' +
        (e.ROW_AUTHORIZATION === undefined ? ' (the default with SECURE_CHANNELS)' : '') +
        ' needs PostgreSQL: set DATABASE_URL, RLS_DATABASE_URL or DB_HOST, or set ROW_AUTHORIZATION=off',
    );
    return null;
  }
  return {
    ...database,
    poolSize: e.RLS_POOL_SIZE,
    checkTimeoutMs: e.RLS_CHECK_TIMEOUT,
    refreshMs: e.RLS_REFRESH_INTERVAL,
  };
}

type GatewayEnv = ReturnType<typeof loadConfig<typeof gatewaySchema>>;

function authConfig(e: GatewayEnv): AuthConfig {
  const isSecure = e.SECURE_CHANNELS ?? e.NODE_ENV === 'production';
  const problems: string[] = [];
  const jwks = e.JWT_JWKS ?? null;
  if (jwks && !Array.isArray(jwks['keys']))
    problems.push('JWT_JWKS: expected a JWK set, a JSON object with a `keys` array');
  if (isSecure && !e.JWT_SECRET && !jwks && !e.JWT_JWKS_URL) {
    problems.push(
      'SECURE_CHANNELS is on' +
        (e.SECURE_CHANNELS === undefined ? ' (the default when NODE_ENV=production)' : '') +
        ' but no key is configured: set JWT_SECRET, JWT_JWKS or JWT_JWKS_URL, or set SECURE_CHANNELS=false',
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    isSecure,
    jwtSecret: e.JWT_SECRET ?? null,
    jwks: jwks as AuthConfig['jwks'],
    jwksUrl: e.JWT_JWKS_URL ?? null,
    jwksCooldownMs: e.JWT_JWKS_COOLDOWN,
    claimValidators: Object.freeze({ ...e.JWT_CLAIM_VALIDATORS }),
    clockToleranceMs: e.JWT_CLOCK_TOLERANCE,
  };
}
