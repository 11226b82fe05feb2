/**
 * walcast ingester: the only holder of the replication slot. Wiring only: config → logger → bus →
 * ingester → health → signals.
 */
import { RedisBus } from '@walcast/bus';
import { ConfigError } from '@walcast/config';
import { createLogger } from '@walcast/logger';
import { readConfig } from './config';
import { startHealthServer } from './health';
import { Ingester } from './ingester';
import { IngesterMetrics } from './metrics';
import { SlotMonitor } from './replication/slot-monitor';
import { SubscriberFlow } from './publish/subscriber-flow';

const VERSION = '0.1.0';

async function main(): Promise<void> {
  let config;
  try {
    config = readConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`walcast ingester: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ service: 'ingester', level: config.logLevel, version: VERSION });
  log.info(
    {
      slot: config.slotName,
      publication: config.publication,
      database: config.pgTarget,
      instance: config.instanceId,
      node: process.version,
    },
    'starting',
  );
  const bus = new RedisBus({
    url: config.redisUrl,
    name: `walcast-ingester:${config.instanceId}`,
    log: log.child({ component: 'bus' }),
    publishOnly: true,
  });
  const monitor = new SlotMonitor({
    pg: config.pg,
    slot: config.slotName,
    intervalMs: config.slotCheckIntervalMs,
    warnBytes: config.slotLagWarnBytes,
    log: log.child({ component: 'slot-monitor' }),
  });
  const metrics: IngesterMetrics = new IngesterMetrics({
    state: () => ingester.state,
    redisReady: () => bus.state === 'ready',
    confirmedLsn: () => ingester.confirmedLsn,
    slot: () => monitor.status,
  });
  bus.onError(() => metrics.redisErrors.inc());
  const flow =
    config.subscriberPauseBytes > 0
      ? new SubscriberFlow({
          read: () => bus.subscriberBacklog(),
          inFlightBytes: () => ingester.inFlightBytes,
          intervalMs: config.subscriberCheckIntervalMs,
          pauseBytes: config.subscriberPauseBytes,
          maxWaitMs: config.subscriberMaxWaitMs,
          loneWaitMs: config.subscriberLoneWaitMs,
          closeBytes: config.subscriberCloseBytes,
          close: (id) => bus.closeSubscriber(id),
          onClosed: () => metrics.subscribersClosed.inc(),
          log: log.child({ component: 'subscriber-flow' }),
          onHold: (held) => {
            ingester.hold(held);
            if (held) metrics.subscriberHolds.inc();
          },
        })
      : null;
  const ingester: Ingester = new Ingester(
    config,
    bus,
    log.child({ component: 'replication' }),
    metrics,
    flow ? (bytes) => flow.consume(bytes) : null,
  );
  const health = await startHealthServer(config.healthPort, ingester, metrics);
  ingester.start();
  monitor.start();
  flow?.start();

  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    void (async () => {
      flow?.stop();
      await ingester.stop();
      await monitor.stop();
      await bus.close();
      health.close();
      log.info('stopped');
      log.flush();
      process.exit(0);
    })();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(
    `walcast ingester: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
