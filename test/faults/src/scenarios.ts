/**
 * The fault scenarios. Each writes through the fault and heals it; the harness then checks every
 * observer against what PostgreSQL committed. docs/fault-injection.md describes each one.
 */
import { hashSlot, topicForTable } from '@walcast/protocol';
import { INGESTER_ENTRY, freePort, spawnService, waitFor, type ServiceProcess } from '@walcast/test-utils';

import { catchUps } from './gateway-metric';
import { TABLE, type Scenario, type ScenarioContext } from './harness';
import { millionRowTransaction } from './million-row-transaction';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the writer has had `n` more transactions acknowledged: the burst is under way. */
async function writtenMore(ctx: ScenarioContext, n: number): Promise<void> {
  const target = ctx.writer.acknowledged + n;
  await waitFor(() => ctx.writer.acknowledged >= target, {
    timeoutMs: 30_000,
    message: `${n} more transactions acknowledged (have ${ctx.writer.acknowledged})`,
  });
}

/** Resolves once `ingester` logged that it streams (it holds the slot), after `afterLogs` records. */
function streaming(ingester: ServiceProcess, timeoutMs = 20_000, afterLogs = 0): Promise<unknown> {
  return ingester.waitForLog(
    (l) => l['msg'] === 'streaming' && ingester.logs.indexOf(l) >= afterLogs,
    timeoutMs,
  );
}

const ingesterSigkill: Scenario = {
  name: 'ingester-sigkill-x5',
  fast: true,
  gateways: 2,
  clientsPerGateway: 2,
  async run(ctx) {
    ctx.writer.start();
    for (let round = 1; round <= 5; round++) {
      await writtenMore(ctx, 50);
      const exit = await ctx.stack.ingester!.kill('SIGKILL');
      ctx.say(`round ${round}: ingester SIGKILLed (${exit.signal}) at ${ctx.writer.idsUsed} ids written`);
      await writtenMore(ctx, 20); // commits while no ingester runs
      const next = await ctx.stack.startIngester();
      await streaming(next);
      ctx.say(`round ${round}: new ingester streaming`);
    }
    await writtenMore(ctx, 50);
  },
};

/**
 * Waits until gateway `g` has caught up from the history (walcast_gateway_catch_ups_total{result="ok"}
 * above `before`) and records it as a check; a wait that times out is a failed check, not an error.
 */
async function caughtUp(ctx: ScenarioContext, g: number, before: number): Promise<void> {
  const port = ctx.stack.gatewayPorts[g]!;
  const after = await waitFor(
    async () => {
      const now = await catchUps(port, 'ok');
      return now > before ? now : null;
    },
    { timeoutMs: 30_000, intervalMs: 100, message: `gateway ${g} caught up from the history` },
  ).catch(() => before);
  ctx.checks.push({
    what: `gateway ${g} caught up from the history (catch-ups ok ${before} → ${after})`,
    ok: after > before,
  });
}

/**
 * Redis goes away under load and comes back: empty (no persistence), or with its data (an
 * append-only file fsynced on every command, Redis SIGKILLed). The gateways lose Redis either way.
 * Empty, the history cannot cover what they missed: their channels get `phx_error`, the clients
 * rejoin with `since` and, told `HistoryGap`, refetch. With the data kept, the gateways catch up
 * from the history and their clients notice nothing.
 */
function redisRestart(persisted: boolean): Scenario {
  return {
    name: persisted ? 'redis-restart-aof' : 'redis-restart',
    fast: true,
    gateways: 2,
    clientsPerGateway: 2,
    redisAppendOnly: persisted,
    seamless: () => persisted,
    exemptWhileUnsubscribed: true,
    async run(ctx) {
      ctx.writer.start();
      await writtenMore(ctx, 100);
      const ports = ctx.stack.gatewayPorts;
      const before = await Promise.all(ports.map((port) => catchUps(port, 'ok')));
      if (persisted) await ctx.backends.redis.kill();
      else await ctx.backends.redis.stop();
      ctx.say(`redis ${persisted ? 'killed' : 'stopped'} at ${ctx.writer.idsUsed} ids written`);
      await sleep(1500);
      await ctx.backends.redis.start();
      ctx.say(persisted ? 'redis started (its data kept)' : 'redis started (empty)');
      await waitFor(() => ctx.redis.isSubscribed, { timeoutMs: 10_000, message: 'observer resubscribed' });
      await waitFor(async () => (await readyz(ctx.stack.healthPort)) === 200, {
        timeoutMs: 20_000,
        message: 'ingester ready again',
      });
      ctx.say('observer resubscribed, ingester ready');
      if (persisted) for (const g of ports.keys()) await caughtUp(ctx, g, before[g]!);
      await writtenMore(ctx, 150);
      await noteOutcomes(ctx);
    },
  };
}

/** Notes how long the Redis observer was unsubscribed and how the gateways' catch-ups ended. */
async function noteOutcomes(ctx: ScenarioContext): Promise<void> {
  for (const w of ctx.redis.unsubscribed) {
    ctx.notes.push(`redis subscriber unsubscribed for ${w.to - w.from} ms`);
  }
  const outcomes = await Promise.all(
    ctx.stack.gatewayPorts.map(async (port, g) => {
      const [ok, gap, failed] = await Promise.all([
        catchUps(port, 'ok'),
        catchUps(port, 'gap'),
        catchUps(port, 'failed'),
      ]);
      return `gateway ${g}: ok ${ok}, gap ${gap}, failed ${failed}`;
    }),
  );
  ctx.notes.push(`catch-ups from the history: ${outcomes.join('; ')}`);
}

/**
 * Walcast on a Redis Cluster of three masters with one replica each; the master serving the
 * workload table's hash slot (its topic and its history) is SIGKILLed under the steady write load
 * and its replica takes over. The ingester publishes to the new master; the gateways move their
 * subscriptions there and catch up from its history, or, where it cannot cover the gap (the
 * replica had not received the last writes: replication is asynchronous), end the channels with
 * `phx_error`, and clients rejoining with `since` are told `HistoryGap` and refetch. Either way no
 * client may lose a row silently.
 */
const clusterMasterKill: Scenario = {
  name: 'redis-cluster-master-kill',
  fast: true,
  gateways: 2,
  clientsPerGateway: 2,
  redisCluster: { masters: 3, replicasPerMaster: 1 },
  exemptWhileUnsubscribed: true,
  async run(ctx) {
    const cluster = ctx.backends.redisCluster!;
    ctx.writer.start();
    await writtenMore(ctx, 100);
    const master = await cluster.masterOf(hashSlot(topicForTable('public', TABLE)));
    const killedAt = Date.now();
    ctx.say(`master ${master.port} of the table's slot SIGKILLed at ${ctx.writer.idsUsed} ids written`);
    const heir = await cluster.failOver(master);
    const tookOver = Date.now() - killedAt;
    ctx.say(`replica ${heir.port} promoted, cluster healthy ${tookOver} ms after the kill`);
    ctx.notes.push(`replica promoted and cluster healthy ${tookOver} ms after the master was killed`);
    await waitFor(() => ctx.redis.isSubscribed, { timeoutMs: 20_000, message: 'observer resubscribed' });
    await writtenMore(ctx, 150);
    await noteOutcomes(ctx);
  },
};

function postgresRestart(mode: 'fast' | 'immediate'): Scenario {
  return {
    name: `postgres-restart-${mode}`,
    fast: true,
    gateways: 2,
    clientsPerGateway: 2,
    async run(ctx) {
      ctx.writer.start();
      await writtenMore(ctx, 100);
      const ingester = ctx.stack.ingester!;
      const logsBefore = ingester.logs.length;
      await ctx.backends.pg.restart(mode);
      ctx.say(`postgres restarted (${mode}) at ${ctx.writer.idsUsed} ids written`);
      await streaming(ingester, 30_000, logsBefore);
      ctx.say('ingester streaming again');
      await writtenMore(ctx, 150);
      if (!ingester.isRunning()) ctx.checks.push({ what: 'ingester survived the restart', ok: false });
    },
  };
}

const gatewayKill: Scenario = {
  name: 'gateway-kill',
  fast: true,
  gateways: 2,
  clientsPerGateway: 3,
  // Gateway 0 is killed: its clients rejoin on gateway 1 with `since`, which replays what passed.
  async run(ctx) {
    ctx.writer.start();
    await writtenMore(ctx, 100);
    await ctx.stack.gateways[0]!.kill('SIGKILL');
    ctx.say(`gateway 0 SIGKILLed at ${ctx.writer.idsUsed} ids written`);
    await waitFor(() => ctx.clients[0]!.every((c) => c.isJoined), {
      timeoutMs: 15_000,
      message: "gateway 0's clients rejoined elsewhere",
    });
    ctx.say("gateway 0's clients rejoined on gateway 1");
    await writtenMore(ctx, 150);
  },
};

/**
 * One gateway is cut from Redis (its connections reset, reconnects refused) for 2 s under the
 * steady write load, the other not: the cut one catches up from the history, and no client of
 * either notices anything.
 */
const gatewayRedisCut: Scenario = {
  name: 'gateway-redis-cut',
  fast: true,
  gateways: 2,
  clientsPerGateway: 2,
  redisProxied: [0],
  seamless: () => true,
  async run(ctx) {
    ctx.writer.start();
    await writtenMore(ctx, 100);
    const before = await catchUps(ctx.stack.gatewayPorts[0]!, 'ok');
    const proxy = ctx.redisProxies.get(0)!;
    ctx.say(`gateway 0 cut from Redis for 2 s at ${ctx.writer.idsUsed} ids written`);
    await proxy.cut(2000);
    ctx.say(`gateway 0 may reach Redis again at ${ctx.writer.idsUsed} ids written`);
    ctx.notes.push(
      `gateway 0's Redis connections: ${proxy.severed} reset by the cut, ${proxy.refused} reconnects refused during it`,
    );
    await caughtUp(ctx, 0, before);
    await writtenMore(ctx, 150);
  },
};

const ingesterFailover: Scenario = {
  name: 'ingester-failover',
  fast: true,
  gateways: 2,
  clientsPerGateway: 2,
  async run(ctx) {
    const healthPort = await freePort();
    const standby = await spawnService({
      name: 'ingester-standby',
      entry: INGESTER_ENTRY,
      env: {
        DATABASE_URL: ctx.backends.pg.url,
        REDIS_URL: ctx.backends.redis.url,
        SLOT_NAME: 'walcast',
        PUBLICATION: 'supabase_realtime',
        HEALTH_PORT: String(healthPort),
        RECONNECT_MAX_DELAY: '1s',
      },
      readyUrl: `http://127.0.0.1:${healthPort}/readyz`,
    });
    ctx.extraProcesses.push(standby);
    await standby.waitForReady();
    await standby.waitForLog((l) => String(l['msg']).startsWith('standby'), 10_000);
    ctx.say('standby ingester waiting');
    ctx.writer.start();
    await writtenMore(ctx, 100);
    await ctx.stack.ingester!.kill('SIGKILL');
    const killedAt = Date.now();
    ctx.say(`leader SIGKILLed at ${ctx.writer.idsUsed} ids written`);
    await streaming(standby);
    ctx.notes.push(`standby took over ${Date.now() - killedAt} ms after the leader was killed`);
    ctx.say('standby streaming');
    await writtenMore(ctx, 150);
  },
};

async function readyz(port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

/** Every scenario, in the order they run. */
export const SCENARIOS: readonly Scenario[] = [
  ingesterSigkill,
  redisRestart(false),
  redisRestart(true),
  gatewayRedisCut,
  clusterMasterKill,
  postgresRestart('fast'),
  postgresRestart('immediate'),
  gatewayKill,
  ingesterFailover,
  millionRowTransaction,
];
