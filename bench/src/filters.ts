/**
 * Filters: time for the gateway to match one change against N `id=eq.<n>` postgres_changes
 * bindings on one table (one channel, hence one delivery group, per binding), in-process, with the
 * gateway's own compiled code (services/gateway/dist). walcast = `ChannelRegistry.dispatch`, which
 * asks the bus subscription's EqualityIndex for candidates. Baseline = the same dispatch with the
 * index replaced by "every group" (the registry's own fallback path), so every group evaluates its
 * RowFilter: a naive linear scan. Both decode the bus message, parse the event once, and encode
 * the one matching frame (each group has one stand-in v1 socket; `publish` only counts).
 */
import type { BusEntry } from '../../services/gateway/dist/channels/bus-subscriptions';
import { BusSubscriptions } from '../../services/gateway/dist/channels/bus-subscriptions';
import { ChannelRegistry } from '../../services/gateway/dist/channels/channel-registry';
import type { DeliveryGroup } from '../../services/gateway/dist/channels/delivery-group';
import { parseBinding } from '../../services/gateway/dist/channels/postgres-changes-binding';
import { GatewayMetrics } from '../../services/gateway/dist/metrics';
import { benchFilterPatterns } from './filter-patterns';
import { encodeEnvelope, median, tableTEvent, topicForTable, type ResultRow } from './util';

const SIZES = [10, 1_000, 10_000];
const REPEATS = 3;
const SAMPLE_MS = 60;
const SAMPLES = 5;
const TOPIC = topicForTable('public', 't');

type Bus = ConstructorParameters<typeof BusSubscriptions>[0];
type Logger = ConstructorParameters<typeof BusSubscriptions>[1];
type Socket = Parameters<DeliveryGroup['add']>[0];

/** A bus that confirms every subscription at once and never delivers by itself. */
const stubBus: Bus = {
  publish: () => Promise.resolve(),
  subscribe: () => Promise.resolve(),
  unsubscribe: () => Promise.resolve(),
  onMessage: () => undefined,
  onStateChange: () => undefined,
  state: 'ready',
  close: () => Promise.resolve(),
};

function silentLogger(): Logger {
  const log: Record<string, unknown> = {};
  for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) log[level] = () => undefined;
  log['child'] = () => log;
  return log as unknown as Logger;
}

/** Enough of a uWS socket for group membership: a v1 codec in its user data. */
const standInSocket = { getUserData: () => ({ codec: { vsn: '1.0.0' } }) } as unknown as Socket;

function changeMessage(id: number): string {
  const event = tableTEvent('UPDATE', { id, n: id, s: `row ${id}`, b: true }, { id });
  return encodeEnvelope('bench-filters', 1, '0/1000000', event, ['id']);
}

interface Setup {
  registry: ChannelRegistry;
  entry: BusEntry;
  published: { count: number };
}

function setUp(bindings: number): Setup {
  const published = { count: 0 };
  const subscriptions = new BusSubscriptions(stubBus, silentLogger());
  const registry = new ChannelRegistry(
    subscriptions,
    { publish: () => void published.count++, sendLarge: () => undefined, send: () => undefined },
    new GatewayMetrics({
      connections: () => 0,
      channels: () => 0,
      deliveryGroups: () => 0,
      busSubscriptions: () => 0,
      redisReady: () => true,
      draining: () => false,
    }),
    silentLogger(),
  );
  for (let n = 1; n <= bindings; n++) {
    const binding = parseBinding({ event: '*', schema: 'public', table: 't', filter: `id=eq.${n}` });
    if ('error' in binding) throw new Error(binding.error);
    registry.postgresChangesGroup(`realtime:room-${n}`, [binding]).add(standInSocket);
  }
  const entry = subscriptions.get(`t:${TOPIC}`);
  if (!entry) throw new Error('no bus entry');
  return { registry, entry, published };
}

/**
 * CPU nanoseconds per dispatched change: the fastest of SAMPLES runs of about SAMPLE_MS each (the
 * run least disturbed by other work on the shared machine), after a warm-up.
 */
function timeDispatch(setup: Setup, message: string): number {
  const via = { topic: TOPIC };
  // CPU time of this process, not wall time: time spent descheduled on the shared box does not count
  const run = (iterations: number): number => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < iterations; i++) setup.registry.dispatch(via, TOPIC, message);
    const used = process.cpuUsage(t0);
    return (used.user + used.system) / 1000;
  };
  let iterations = 1;
  while (run(iterations) < 20) iterations *= 2;
  const perIteration = run(iterations) / iterations;
  const count = Math.max(1, Math.round(SAMPLE_MS / perIteration));
  let best = Infinity;
  for (let sample = 0; sample < SAMPLES; sample++) {
    setup.published.count = 0;
    best = Math.min(best, run(count));
    if (setup.published.count !== count) {
      throw new Error(`expected ${count} frames (one per change), got ${setup.published.count}`);
    }
  }
  return (best * 1e6) / count;
}

/** Replaces the bus entry's index by "every group": the dispatch then evaluates each group's filter. */
function disableIndex(setup: Setup): void {
  const feed = setup.registry.feedOf(setup.entry);
  const scanAll = { candidates: (): Iterable<DeliveryGroup> => feed.groups };
  Object.defineProperty(feed, 'index', { value: scanAll });
}

export function benchFilters(): ResultRow[] {
  const rows: ResultRow[] = [];
  let indexedAt10 = NaN;
  timeDispatch(setUp(SIZES[0]!), changeMessage(1)); // warm-up: compile the dispatch path first
  for (const size of SIZES) {
    const indexed: number[] = [];
    const scanned: number[] = [];
    const message = changeMessage(Math.ceil(size / 2));
    for (let rep = 0; rep < REPEATS; rep++) {
      const withIndex = setUp(size);
      indexed.push(timeDispatch(withIndex, message));
      const withScan = setUp(size);
      disableIndex(withScan);
      scanned.push(timeDispatch(withScan, message));
    }
    if (size === SIZES[0]) indexedAt10 = median(indexed);
    console.log(
      `  filters ${size} bindings: index ${indexed.map((x) => x.toFixed(0)).join('/')} ns, ` +
        `linear scan ${scanned.map((x) => x.toFixed(0)).join('/')} ns per change`,
    );
    rows.push({
      benchmark: `match 1 change, ${size.toLocaleString('en-US')} \`id=eq.<n>\` bindings (1 matches)`,
      unit: 'ns/change',
      figure: median(indexed),
      baselineName: 'same dispatch, linear scan of every RowFilter',
      baseline: median(scanned),
      samples: indexed,
      baselineSamples: scanned,
      better: 'lower',
      note: `${(median(indexed) / indexedAt10).toFixed(2)}× the cost with ${SIZES[0]}`,
    });
  }
  return [...rows, ...benchFilterPatterns()];
}
