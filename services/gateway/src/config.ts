/**
 * The gateway's settings: the only place that reads the environment. The original server's names
 * (PORT, SOCKET_TIMEOUT, SECURE_CHANNELS, JWT_SECRET, JWT_CLAIM_VALIDATORS) keep their meaning.
 */
import {
  ConfigError,
  bool,
  bytes,
  defaultInstanceId,
  durationMs,
  int,
  jsonObject,
  loadConfig,
  oneOf,
  str,
  url,
} from '@walcast/config';
import { LOG_LEVELS, type LogLevel } from '@walcast/logger';

export const gatewaySchema = {
  PORT: int({
    doc: 'Port of the websocket endpoints and of /healthz, /readyz, /metrics.',
    default: 4000,
    min: 0,
    max: 65535,
  }),
  HOST: str({ doc: 'Address to listen on.', default: '0.0.0.0' }),
  REDIS_URL: url({
    doc: 'Redis the ingester publishes changes to.',
    schemes: ['redis', 'rediss'],
    required: true,
  }),
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
    doc: 'Largest inbound websocket message; a larger one closes the socket.',
    default: 5_000_000,
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
  NODE_ENV: str({ doc: 'Only decides the default of SECURE_CHANNELS (`production` means secure).' }),
  SECURE_CHANNELS: bool({
    doc: 'Require a valid JWT to connect and to join. Default: true when NODE_ENV=production, else false.',
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
  JWT_CLOCK_TOLERANCE: durationMs({
    doc: 'Clock skew allowed when verifying `exp` and `nbf`; a joined channel still closes at its token’s `exp`.',
    default: 5_000,
  }),
} as const;

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

export type GatewayConfig = Readonly<{
  port: number;
  host: string;
  redisUrl: string;
  /** Infinity disables the idle timeout. */
  socketTimeoutMs: number;
  logLevel: LogLevel;
  maxBackpressureBytes: number;
  maxFrameBytes: number;
  joinTimeoutMs: number;
  shutdownGraceMs: number;
  instanceId: string;
  auth: Readonly<AuthConfig>;
}>;

/** Reads and validates the environment; throws ConfigError listing every problem. */
export function readConfig(env: Readonly<Record<string, string | undefined>> = process.env): GatewayConfig {
  const e = loadConfig(gatewaySchema, env);
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    redisUrl: e.REDIS_URL,
    socketTimeoutMs: e.SOCKET_TIMEOUT,
    logLevel: e.LOG_LEVEL,
    maxBackpressureBytes: e.MAX_BACKPRESSURE,
    maxFrameBytes: e.MAX_FRAME_SIZE,
    joinTimeoutMs: e.JOIN_TIMEOUT,
    shutdownGraceMs: e.SHUTDOWN_GRACE,
    instanceId: e.INSTANCE_ID ?? defaultInstanceId(),
    auth: Object.freeze(authConfig(e)),
  });
}

function authConfig(e: ReturnType<typeof loadConfig<typeof gatewaySchema>>): AuthConfig {
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
