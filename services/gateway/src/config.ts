/**
 * The gateway's settings: the only place that reads the environment. The original server's names
 * (PORT, SOCKET_TIMEOUT, SECURE_CHANNELS, JWT_SECRET, JWT_CLAIM_VALIDATORS) keep their meaning.
 */
import { bytes, durationMs, int, loadConfig, oneOf, str, url } from '@walcast/config';
import { LOG_LEVELS, type LogLevel } from '@walcast/logger';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';

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
    doc: 'Bytes buffered for one slow socket before it is closed (code 4001, reconnectable).',
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
} as const;

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
    instanceId: e.INSTANCE_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
  });
}
