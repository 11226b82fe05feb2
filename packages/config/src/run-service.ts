/**
 * The start and shutdown every walcast service shares, so each `main.ts` is wiring only: read the
 * config (invalid settings: every problem on stderr, exit 2), start, and on SIGTERM/SIGINT stop once,
 * flush the log and exit 0; any other error before that is fatal (stderr, exit 1).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError } from './load-config';

/** The version every service reports (logs, metrics). */
export const WALCAST_VERSION = '0.1.0';

/** The default INSTANCE_ID: host name, pid and a random suffix, unique per process start. */
export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** The part of a logger this needs (pino's Logger has it). */
export interface ServiceLog {
  info(fields: object, msg: string): void;
  flush(): void;
}

/** A started service: its log, and how to stop it. */
export interface RunningService {
  log: ServiceLog;
  /** Fields for the "shutting down" line (e.g. open connections). */
  shutdownFields?: () => object;
  /** Stops everything it started; the process exits 0 afterwards. */
  stop(): Promise<void>;
}

/** Runs service `name` (`gateway`, `ingester`): config → `start` → signals. Never returns a rejection. */
export function runService<C>(
  name: string,
  readConfig: () => C,
  start: (config: C) => Promise<RunningService>,
): void {
  const fatal = (err: unknown): never => {
    process.stderr.write(
      `walcast ${name}: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  };
  let config: C;
  try {
    config = readConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) return fatal(err);
    process.stderr.write(`walcast ${name}: ${err.message}\n`);
    process.exit(2);
  }
  start(config).then((service) => {
    let stopping = false;
    const shutdown = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      service.log.info({ signal, ...service.shutdownFields?.() }, 'shutting down');
      service.stop().then(() => {
        service.log.info({}, 'stopped');
        service.log.flush();
        process.exit(0);
      }, fatal);
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  }, fatal);
}
