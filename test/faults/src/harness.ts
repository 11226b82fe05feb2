/**
 * Runs one scenario on its own throwaway PostgreSQL and Redis (or Redis Cluster): start walcast (one ingester, the
 * scenario's gateways, some of them reaching Redis through a TcpProxy the scenario can cut), the
 * Redis observer and the clients; let the scenario write and inject its faults; then stop writing,
 * read the committed ids from PostgreSQL, wait for the observers to settle (refetches included),
 * and tally every observer against the committed ids. Every client is held to zero loss.
 *
 * Lifecycle: every process and server started here is stopped in `finally`, also when the scenario
 * throws (a scenario that throws fails the bar, with the error in the report).
 */
import {
  TcpProxy,
  WalcastStack,
  sql,
  type StartBackendsOptions,
  startBackends,
  waitFor,
  type Backends,
  type ServiceProcess,
} from '@walcast/test-utils';

import { readFileSync } from 'node:fs';

import { topicForTable } from '@walcast/protocol';

import type { BusObserver } from './bus-observer';
import { sumTallies, tally, type Tally } from './checker';
import { ClusterRedisObserver } from './cluster-redis-observer';
import { PhoenixObserver } from './phoenix-observer';
import { RedisObserver } from './redis-observer';
import { Writer } from './workload';

export const TABLE = 'items';

/** What a scenario can use and where it reports. */
export interface ScenarioContext {
  readonly backends: Backends;
  readonly stack: WalcastStack;
  readonly writer: Writer;
  readonly redis: BusObserver;
  /** Clients by the gateway they started on. */
  readonly clients: PhoenixObserver[][];
  /** The proxy between gateway `index` and Redis, for the gateways listed in `redisProxied`. */
  readonly redisProxies: ReadonlyMap<number, TcpProxy>;
  /** Extra processes the scenario started (stopped at the end). */
  readonly extraProcesses: ServiceProcess[];
  /** Lines printed under the results table. */
  readonly notes: string[];
  /** Further pass/fail conditions of the bar, e.g. the ingester's peak memory. */
  readonly checks: Check[];
  /** Progress output while the scenario runs. */
  say(message: string): void;
}

export interface Check {
  what: string;
  ok: boolean;
}

/** One named fault scenario. */
export interface Scenario {
  name: string;
  /** Part of `pnpm faults --fast` (and CI). */
  fast: boolean;
  gateways: number;
  clientsPerGateway: number;
  /** Redis keeps its data across restarts (an append-only file, fsynced on every command). */
  redisAppendOnly?: boolean;
  /**
   * Run walcast on a Redis Cluster of this shape (REDIS_CLUSTER_NODES) instead of one Redis; the
   * Redis observer then subscribes to the table's topic on its slot's master.
   */
  redisCluster?: StartBackendsOptions['redisCluster'];
  /** Gateways that reach Redis through a TcpProxy (ScenarioContext.redisProxies). */
  redisProxied?: readonly number[];
  /**
   * Whether the clients that started on gateway `index` must get every change as a change: no
   * `phx_error`, no system error, no refetch (their gateway caught up from the history). Checked
   * as a row of the table. Default: not checked (zero loss, refetches included, still is).
   */
  seamless?(index: number): boolean;
  /** Rows committed while the Redis observer was unsubscribed are exempt at Redis (Redis restart). */
  exemptWhileUnsubscribed?: boolean;
  /** Longest wait for the observers to settle after the writer stopped. Default 30 s. */
  settleTimeoutMs?: number;
  /** Writes, injects the faults, heals them; the harness stops the writer afterwards. */
  run(ctx: ScenarioContext): Promise<void>;
}

/** One line of the results table. */
export interface ObserverResult {
  observer: string;
  tally: Tally;
  /** Refetches the observer (a group of clients: all of them) made after a HistoryGap; null for Redis. */
  refetches: number | null;
}

export interface ScenarioResult {
  name: string;
  results: ObserverResult[];
  checks: Check[];
  notes: string[];
  error: string | null;
  seconds: number;
  passed: boolean;
}

/** How long the observers may go without a new delivery before they count as settled. */
const QUIET_MS = 3000;

/**
 * Rows committed this long before the Redis observer lost its connection are exempt too: they may
 * still have been in flight when Redis stopped, and are then republished once it is back, exactly
 * like the rows committed during the outage (the ingester publishes within milliseconds normally).
 */
const IN_FLIGHT_LEAD_MS = 500;

/** Runs `scenario` from scratch and tallies it. Never throws: errors become a failed result. */
export async function runScenario(scenario: Scenario, say: (line: string) => void): Promise<ScenarioResult> {
  const started = Date.now();
  const notes: string[] = [];
  const checks: Check[] = [];
  let backends: Backends | null = null;
  let stack: WalcastStack | null = null;
  let redis: BusObserver | null = null;
  let writer: Writer | null = null;
  const clients: PhoenixObserver[][] = [];
  const redisProxies = new Map<number, TcpProxy>();
  const extraProcesses: ServiceProcess[] = [];
  let results: ObserverResult[] = [];
  let error: string | null = null;
  try {
    backends = await startBackends({
      redisAppendOnly: scenario.redisAppendOnly ?? false,
      ...(scenario.redisCluster ? { redisCluster: scenario.redisCluster } : {}),
    });
    for (const g of scenario.redisProxied ?? [])
      redisProxies.set(g, await TcpProxy.start({ host: backends.redis.host, port: backends.redis.port }));
    await sql(
      backends.pg.url,
      `create table public.${TABLE} (id int primary key, note text, at timestamptz not null default clock_timestamp())`,
      'create publication supabase_realtime for all tables',
    );
    stack = await WalcastStack.start(backends, {
      gateways: scenario.gateways,
      gatewayEnv: { LOG_LEVEL: 'warn' },
      gatewayEnvAt: (g): Record<string, string> => {
        const proxy = redisProxies.get(g);
        return proxy ? { REDIS_URL: `redis://${proxy.host}:${proxy.port}` } : {};
      },
    });
    redis = backends.redisCluster
      ? await ClusterRedisObserver.open(backends.redisCluster, topicForTable('public', TABLE))
      : await RedisObserver.open(backends.redis.url);
    const endpoints = stack.gatewayPorts.map((port) => `ws://127.0.0.1:${port}/socket/websocket`);
    const pgUrl = backends.pg.url;
    const refetch = async (): Promise<number[]> =>
      (await sql(pgUrl, `select id from public.${TABLE}`)).map((r) => Number(r['id']));
    for (let g = 0; g < scenario.gateways; g++) {
      const group: PhoenixObserver[] = [];
      for (let c = 0; c < scenario.clientsPerGateway; c++) {
        const client = new PhoenixObserver(`gw${g}-c${c}`, { endpoints, start: g, table: TABLE, refetch });
        client.start();
        group.push(client);
      }
      clients.push(group);
    }
    await waitFor(() => clients.every((group) => group.every((c) => c.isJoined)), {
      timeoutMs: 15_000,
      message: 'every client joined',
    });
    writer = new Writer({ url: backends.pg.url, table: TABLE });
    const ctx: ScenarioContext = {
      backends,
      stack,
      writer,
      redis,
      clients,
      redisProxies,
      extraProcesses,
      notes,
      checks,
      say: (message) => say(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${message}`),
    };
    await scenario.run(ctx);
    await writer.stop();
    results = await settleAndTally(scenario, ctx);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    notes.push(...describeState(redis, clients, stack));
  } finally {
    await writer?.stop().catch(() => undefined);
    if (backends !== null) notes.push(...outputBufferDisconnections(backends.redis));
    for (const group of clients) for (const client of group) client.stop();
    await redis?.close();
    await Promise.all(extraProcesses.map((p) => p.stop()));
    await stack?.stop().catch(() => undefined);
    await Promise.all([...redisProxies.values()].map((p) => p.close()));
    await backends?.stop().catch(() => undefined);
  }
  const passed =
    error === null &&
    results.length > 0 &&
    results.every((r) => r.tally.lost === 0 && r.tally.phantom === 0) &&
    checks.every((c) => c.ok);
  return {
    name: scenario.name,
    results,
    checks,
    notes,
    error,
    seconds: (Date.now() - started) / 1000,
    passed,
  };
}

async function settleAndTally(scenario: Scenario, ctx: ScenarioContext): Promise<ObserverResult[]> {
  const rows = await sql(
    ctx.backends.pg.url,
    `select id, (extract(epoch from at) * 1000)::float8 as ms from public.${TABLE} order by id`,
  );
  const committed = rows.map((r) => Number(r['id']));
  const committedAt = new Map<number, number>();
  if (scenario.exemptWhileUnsubscribed)
    for (const r of rows) committedAt.set(Number(r['id']), Number(r['ms']));
  ctx.say(`${committed.length.toLocaleString('en')} rows committed; waiting for the observers to settle`);

  const observers = [ctx.redis.counts, ...ctx.clients.flat().map((c) => c.counts)];
  const isRefetching = (): boolean => ctx.clients.some((group) => group.some((c) => c.isRefetching));
  const deadline = Date.now() + (scenario.settleTimeoutMs ?? 30_000);
  let lastTotal = -1;
  let lastChange = Date.now();
  while (Date.now() < deadline) {
    if (observers.every((o) => o.received >= committed.length) && !isRefetching()) break;
    const total = observers.reduce((sum, o) => sum + o.deliveries + o.refetchedOnly, 0);
    if (total !== lastTotal) {
      lastTotal = total;
      lastChange = Date.now();
    } else if (Date.now() - lastChange >= QUIET_MS && !isRefetching()) {
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const windows = ctx.redis.unsubscribed;
  const isExempt = scenario.exemptWhileUnsubscribed
    ? (id: number): boolean => {
        const at = committedAt.get(id) ?? 0;
        return windows.some((w) => at >= w.from - IN_FLIGHT_LEAD_MS && at <= w.to);
      }
    : undefined;
  const results: ObserverResult[] = [
    { observer: 'redis subscriber', tally: tally(committed, ctx.redis.counts, isExempt), refetches: null },
  ];
  if (ctx.redis.malformed > 0) ctx.notes.push(`redis: ${ctx.redis.malformed} malformed envelopes`);
  ctx.clients.forEach((group, g) => {
    if (group.length === 0) return;
    const sum = (of: (c: PhoenixObserver) => number): number => group.reduce((n, c) => n + of(c), 0);
    results.push({
      observer: `${group.length} client${group.length === 1 ? '' : 's'} of gateway ${g}`,
      tally: sumTallies(group.map((c) => tally(committed, c.counts))),
      refetches: sum((c) => c.refetches),
    });
    ctx.notes.push(...describeGroup(g, group));
    if (scenario.seamless?.(g)) {
      const told = sum((c) => c.phxErrors + c.historyGaps + c.refetches + c.systemErrors.length);
      ctx.checks.push({
        what: `clients of gateway ${g}: every change as a change (no phx_error, no refetch)`,
        ok: told === 0,
      });
    }
  });
  return results;
}

/** What a group of clients went through, for the notes (nothing when nothing happened to them). */
function describeGroup(g: number, group: readonly PhoenixObserver[]): string[] {
  const sum = (of: (c: PhoenixObserver) => number): number => group.reduce((n, c) => n + of(c), 0);
  const counts: Array<[number, string]> = [
    [sum((c) => c.disconnects), 'socket closes (refused reconnects included)'],
    [sum((c) => c.phxErrors), 'phx_error'],
    [sum((c) => c.resumes), 'rejoins with since'],
    [sum((c) => c.historyGaps), 'HistoryGap'],
    [sum((c) => c.refetches), 'refetches'],
    [sum((c) => c.counts.refetchedOnly), 'rows received only through a refetch'],
  ];
  const happened = counts.filter(([n]) => n > 0).map(([n, what]) => `${n.toLocaleString('en')} ${what}`);
  if (happened.length === 0) return [];
  const moved = group.filter((c) => c.joinedOn.length > 1).map((c) => c.joinedOn.join('→'));
  const lines = [
    `clients of gateway ${g}: ${happened.join(', ')}; rejoined on gateways ${moved.join(', ') || '-'}`,
  ];
  const errors = group.flatMap((c) => c.systemErrors);
  if (errors.length > 0) lines.push(`clients of gateway ${g}: system errors: ${errors.join('; ')}`);
  return lines;
}

/** What the observers and the ingester had when a scenario failed, for the notes. */
function describeState(
  redis: BusObserver | null,
  clients: readonly PhoenixObserver[][],
  stack: WalcastStack | null,
): string[] {
  const lines: string[] = [];
  if (redis !== null) {
    const gaps = redis.unsubscribed.map((w) => `${w.to - w.from} ms`).join(', ');
    lines.push(
      `redis subscriber had ${redis.counts.distinct} distinct rows; unsubscribed: ${gaps || 'never'}`,
    );
  }
  for (const client of clients.flat()) {
    lines.push(
      `${client.name}: ${client.counts.distinct} distinct rows, ${client.disconnects} socket closes`,
    );
  }
  const ingester = stack?.ingester;
  if (ingester) {
    lines.push(`ingester ${ingester.isRunning() ? 'running' : 'exited'}; last output:`);
    lines.push(...ingester.lines.slice(-5).map((line) => `    ${line.slice(0, 300)}`));
  }
  return lines;
}

/**
 * Redis closes a subscriber whose unread output exceeds `client-output-buffer-limit pubsub`
 * (32 MB, or 8 MB for 60 s, by default), and that subscriber loses what is published until it has
 * subscribed again. Read from the server's log (local Redis only), since it explains loss at a
 * gateway whose process and Redis both stayed up, or at the observer itself.
 */
function outputBufferDisconnections(redis: object): string[] {
  const logFile = (redis as { logFile?: unknown }).logFile;
  if (typeof logFile !== 'string') return [];
  let log: string;
  try {
    log = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  const closed = log.split('\n').filter((line) => line.includes('overcoming of output buffer limits'));
  if (closed.length === 0) return [];
  const names = closed.map((line) => /name=(\S*)/.exec(line)?.[1] || '(observer)');
  return [
    `redis closed ${closed.length} subscriber connection(s) over client-output-buffer-limit pubsub: ${names.join(', ')}`,
  ];
}
