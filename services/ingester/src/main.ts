/**
 * walcast ingester: the only holder of the replication slot. Wiring only: config → logger → bus →
 * ingester → health; start, signals and exits are runService's.
 */
import { createRedisBus, describeTarget } from '@walcast/bus';
import { runService, WALCAST_VERSION } from '@walcast/config';
import { createLogger } from '@walcast/logger';
import { readConfig, type IngesterConfig } from './config';
import { startHealthServers } from './health';
import { Ingester } from './ingester';
import { IngesterMetrics } from './metrics';
import { SlotMonitor } from './replication/slot-monitor';
import { MessageRetention } from './schema/message-retention';
import { SubscriberFlow } from './publish/subscriber-flow';
import { HistoryTrim } from './publish/history-trim';

async function start(config: IngesterConfig) {
  const log = createLogger({ service: 'ingester', level: config.logLevel, version: WALCAST_VERSION });
  log.info(
    {
      slot: config.slotName,
      publication: config.publication,
      database: config.pgTarget,
      instance: config.instanceId,
      redis: describeTarget(config.redis),
      redisCluster: config.redis.cluster !== undefined,
      node: process.version,
    },
    'starting',
  );
  if (config.redisUrlIgnored) log.warn('REDIS_URL is ignored: REDIS_CLUSTER_NODES is set');
  const bus = createRedisBus(config.redis, {
    name: `walcast-ingester:${config.instanceId}`,
    log: log.child({ component: 'bus' }),
    publishOnly: true,
    ...(config.history ? { history: { maxLen: config.history.maxLen } } : {}),
  });
  const trim = config.history
    ? new HistoryTrim({
        ttlMs: config.history.ttlMs,
        intervalMs: Math.min(60_000, Math.max(100, config.history.ttlMs / 10)),
        trim: (streamId) => bus.trimHistory(streamId),
        log: log.child({ component: 'history' }),
      })
    : null;
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
    trim ? (commitTimeMs, endLsn) => trim.record(commitTimeMs, endLsn) : null,
  );
  const retention = new MessageRetention({
    pg: config.pg,
    retentionMs: config.messageRetentionMs,
    intervalMs: config.messageRetentionIntervalMs,
    log: log.child({ component: 'retention' }),
    shouldRun: () => ingester.state === 'streaming' && ingester.schema?.messagesTable === true,
    onDeleted: (rows) => metrics.messagesDeleted.inc(rows),
    onFailed: () => metrics.retentionFailures.inc(),
  });
  const health = await startHealthServers(
    { host: config.healthHost, port: config.healthPort },
    config.metricsPort === null ? null : { host: config.metricsHost, port: config.metricsPort },
    ingester,
    metrics,
  );
  log.info({ address: health.addresses.health, metricsAddress: health.addresses.metrics }, 'listening');
  ingester.start();
  monitor.start();
  flow?.start();
  retention.start();
  trim?.start();

  return {
    log,
    stop: async () => {
      flow?.stop();
      trim?.stop();
      await retention.stop();
      await ingester.stop();
      await monitor.stop();
      await bus.close();
      health.close();
    },
  };
}

runService('ingester', readConfig, start);
