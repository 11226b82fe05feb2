/**
 * walcast gateway: serves the Supabase Realtime websocket protocol from Redis. Wiring only:
 * native uWS check → config → logger → bus → server; start, signals and exits are runService's.
 */
import { RedisBus } from '@walcast/bus';
import { runService, WALCAST_VERSION } from '@walcast/config';
import { createLogger } from '@walcast/logger';
import { readConfig, type GatewayConfig } from './config';
import { GatewayServer } from './gateway-server';
import { assertNativeUws } from './uws';

async function start(config: GatewayConfig) {
  const log = createLogger({ service: 'gateway', level: config.logLevel, version: WALCAST_VERSION });
  const bus = new RedisBus({
    url: config.redisUrl,
    name: `walcast-gateway:${config.instanceId}`,
    log: log.child({ component: 'bus' }),
  });
  const server = new GatewayServer(config, bus, log);
  bus.onError(() => server.metrics.redisErrors.inc());
  const port = await server.listen();
  log.info(
    { port, instance: config.instanceId, socketTimeoutMs: config.socketTimeoutMs, node: process.version },
    'listening',
  );
  return {
    log,
    shutdownFields: () => ({ connections: server.connections }),
    stop: async () => {
      await server.stop();
      await bus.close();
    },
  };
}

runService(
  'gateway',
  () => {
    assertNativeUws();
    return readConfig();
  },
  start,
);
