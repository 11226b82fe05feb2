/**
 * The one way walcast makes a root logger: pino JSON lines, level as a word, ISO time, errors under
 * `err`, secrets redacted. Created once per process in `main.ts`; components take a child logger
 * (`log.child({ component })`) as a constructor argument and never create their own.
 */
import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Paths never written in clear: tokens, passwords and URLs that may embed credentials. */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'accessToken',
  '*.accessToken',
  'password',
  '*.password',
  'databaseUrl',
  '*.databaseUrl',
  'redisUrl',
  '*.redisUrl',
  'jwtSecret',
  '*.jwtSecret',
  'headers.authorization',
  'headers["x-api-key"]',
];

export function createLogger(opts: {
  service: 'ingester' | 'gateway' | 'devstack';
  level: LogLevel;
  version: string;
  destination?: pino.DestinationStream;
}): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: opts.service, version: opts.version, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    opts.destination ?? pino.destination({ sync: false }),
  );
}
