/**
 * walcast gateway: serves the Supabase Realtime websocket protocol from Redis. Wiring only:
 * native uWS check → config → logger → bus → server → signals.
 */
import { RedisBus } from '@walcast/bus';
import { ConfigError } from '@walcast/config';
import { createLogger } from '@walcast/logger';
import { readConfig } from './config';
import { GatewayServer } from './gateway-server';
import { warnUnauthorizedRows } from './rls/row-authorization';
import { assertNativeUws } from './uws';

const VERSION = '0.1.0';

async function main(): Promise<void> {
  assertNativeUws();
  let config;
  try {
    config = readConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`walcast gateway: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ service: 'gateway', level: config.logLevel, version: VERSION });
  const bus = new RedisBus({
    url: config.redisUrl,
    name: `walcast-gateway:${config.instanceId}`,
    log: log.child({ component: 'bus' }),
  });
  const server = new GatewayServer(config, bus, log);
  void warnUnauthorizedRows(config, log.child({ component: 'row-auth' }));
  bus.onError(() => server.metrics.redisErrors.inc());
  const port = await server.listen();
  log.info(
    {
      address: hostPort(config.host, port),
      metricsAddress:
        server.metricsPort === null
          ? hostPort(config.host, port)
          : hostPort(config.metricsHost, server.metricsPort),
      instance: config.instanceId,
      socketTimeoutMs: config.socketTimeoutMs,
      node: process.version,
    },
    'listening',
  );

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, connections: server.connections }, 'draining');
    void (async () => {
      await server.stop();
      await bus.close();
      log.info('stopped');
      log.flush();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/** `host:port`, with an IPv6 address in brackets (`[::]:4000`). */
function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

main().catch((err: unknown) => {
  process.stderr.write(
    `walcast gateway: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
