/**
 * walcast gateway: serves the Supabase Realtime websocket protocol from Redis. Wiring only:
 * native uWS check → config → logger → bus → server; start, signals and exits are runService's.
 */
import { createRedisBus, describeTarget } from '@walcast/bus';
import { runService, WALCAST_VERSION } from '@walcast/config';
import { createLogger } from '@walcast/logger';
import { readConfig, type GatewayConfig } from './config';
import { GatewayServer } from './gateway-server';
import { warnUnauthorizedRows } from './rls/row-authorization';
import { assertNativeUws } from './uws';

async function start(config: GatewayConfig) {
  const log = createLogger({ service: 'gateway', level: config.logLevel, version: WALCAST_VERSION });
  if (config.redisUrlIgnored) log.warn('REDIS_URL is ignored: REDIS_CLUSTER_NODES is set');
  const bus = createRedisBus(config.redis, {
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
      inspector: config.servesInspector ? `http://${hostPort(config.host, port)}/inspector/` : null,
      instance: config.instanceId,
      redis: describeTarget(config.redis),
      redisCluster: config.redis.cluster !== undefined,
      // Names this process in Redis (its broadcasts and presence lease, PresenceLeaseLapsed logs).
      busSource: server.broadcasts.src,
      socketTimeoutMs: config.socketTimeoutMs,
      node: process.version,
    },
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

/** `host:port`, with an IPv6 address in brackets (`[::]:4000`). */
function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

runService(
  'gateway',
  () => {
    assertNativeUws();
    return readConfig();
  },
  start,
);
