/**
 * The bus on a Redis Cluster (REDIS_CLUSTER_NODES): sharded pub/sub (SPUBLISH/SSUBSCRIBE), so each
 * channel's traffic stays on the shard that serves its hash slot instead of being broadcast over the
 * cluster bus. Same contract as RedisBus. Imports ioredis; logging is injected.
 *
 * - Publishing (cluster-publisher.ts): one script call per hash slot per event-loop turn, one call
 *   in flight per slot; table changes go into their history streams in the same call.
 * - Patterns: shard channels have none, so every table change is also published on its schema's
 *   and on the all-tables fan-in channel (fan-in.ts), and a pattern subscription (the gateways use
 *   only `patternForSchema` and `patternForAll`) is a subscription to that fan-in channel; other
 *   patterns are refused.
 * - Subscribing (sharded-subscriptions.ts): one connection per master holding subscriptions.
 *
 * Invariants (as RedisBus):
 * - `publish` retries until the slot's master accepts it and never rejects because a node is down;
 *   for a table change it resolves once its table topic and both fan-in channels accepted it.
 * - `subscribe` resolves only after the master of the channel's slot confirmed it.
 * - The state is `ready` only while the cluster is reachable and every subscription is live on the
 *   master that serves its slot; a `ready` after `reconnecting` means messages may have been missed
 *   (a subscriber connection broke, or slots moved to another master).
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '@walcast/logger';
import {
  FAN_IN_ALL_CHANNEL,
  fanInChannelForPattern,
  fanInChannelForSchema,
  parseTopic,
} from '@walcast/protocol';
import type { Bus, BusHandler, BusKey, BusState } from './bus';
import { ClusterPublisher } from './cluster-publisher';
import { forEachMaster, masterNode, trimClusterHistory } from './cluster-slots';
import { decodeFanIn, encodeFanIn } from './fan-in';
import type { HistoryEntry } from './history-batch';
import { jitteredBackoffMs } from './backoff';
import { openCluster, openNode, type ClusterSeeds } from './redis-target';
import { ShardedSubscriptions } from './sharded-subscriptions';
import { parseClientList, type SubscriberBacklog } from './subscriber-backlog';

export interface RedisClusterBusOptions {
  cluster: ClusterSeeds;
  /** Names the connections in `CLIENT LIST`. */
  name: string;
  log: Logger;
  /** Only publish, never subscribe (the ingester). */
  publishOnly?: boolean;
  /** Keep a history of table changes: at most `maxLen` changes (about) per table. */
  history?: { maxLen: number };
}

/** Most table topics whose fan-in channel is remembered. */
const FAN_IN_CACHE_MAX = 50_000;
/** How long a node may take to answer CLIENT LIST or CLIENT KILL. */
const ADMIN_TIMEOUT_MS = 1000;

export class RedisClusterBus implements Bus {
  private readonly cluster: Cluster;
  private readonly publisher: ClusterPublisher;
  private readonly subscriptions: ShardedSubscriptions | null;
  private handler: BusHandler = () => undefined;
  private readonly listeners: Array<(s: BusState) => void> = [];
  private readonly errorListeners: Array<(err: Error) => void> = [];
  private currentState: BusState = 'connecting';
  /** Exact topics subscribed. */
  private readonly topics = new Set<string>();
  /** Fan-in channel → the patterns it serves. */
  private readonly patterns = new Map<string, Set<string>>();
  /** Table topic → its schema's fan-in channel (null: not a table topic). */
  private readonly fanInOf = new Map<string, string | null>();
  private readonly history: { maxLen: number } | null;

  constructor(private readonly opts: RedisClusterBusOptions) {
    this.history = opts.history ?? null;
    this.cluster = openCluster(opts.cluster, `${opts.name}:pub`);
    for (const event of ['ready', 'close', 'reconnecting', 'end', 'refresh', '+node', '-node'] as const)
      this.cluster.on(event, () => this.recomputeState());
    this.cluster.on('error', (err: Error) => this.onConnectionError(err, 'cluster'));
    this.cluster.on('node error', (err: Error) => this.onConnectionError(err, 'node'));
    this.publisher = new ClusterPublisher({
      cluster: this.cluster,
      history: this.history,
      log: opts.log,
    });
    this.subscriptions = opts.publishOnly
      ? null
      : new ShardedSubscriptions({
          cluster: this.cluster,
          connect: (nodeKey) => this.openSubscriber(nodeKey),
          onMessage: (channel, message) => this.dispatch(channel, message),
          onChange: () => this.recomputeState(),
          log: opts.log,
        });
  }

  get state(): BusState {
    return this.currentState;
  }

  publish(topic: string, message: string, history?: HistoryEntry): Promise<void> {
    const fanIn = this.fanInChannelOf(topic);
    const own = this.publisher.publish(topic, message, history);
    if (fanIn === null) return own;
    const wrapped = encodeFanIn(topic, message);
    return Promise.all([
      own,
      this.publisher.publish(fanIn, wrapped),
      this.publisher.publish(FAN_IN_ALL_CHANNEL, wrapped),
    ]).then(() => undefined);
  }

  async subscribe(key: BusKey): Promise<void> {
    const subscriptions = this.requireSubscriptions();
    if (key.topic !== undefined) {
      this.topics.add(key.topic);
      await subscriptions.subscribe(key.topic);
      return;
    }
    const channel = fanInChannelForPattern(key.pattern);
    if (channel === null)
      throw new Error(`pattern ${key.pattern} cannot be subscribed to on a Redis Cluster`);
    let set = this.patterns.get(channel);
    if (!set) this.patterns.set(channel, (set = new Set()));
    set.add(key.pattern);
    await subscriptions.subscribe(channel);
  }

  async unsubscribe(key: BusKey): Promise<void> {
    const subscriptions = this.requireSubscriptions();
    if (key.topic !== undefined) {
      this.topics.delete(key.topic);
      await subscriptions.unsubscribe(key.topic);
      return;
    }
    const channel = fanInChannelForPattern(key.pattern);
    const set = channel === null ? undefined : this.patterns.get(channel);
    if (!set?.delete(key.pattern) || set.size > 0) return;
    this.patterns.delete(channel!);
    await subscriptions.unsubscribe(channel!);
  }

  onMessage(handler: BusHandler): void {
    this.handler = handler;
  }

  onStateChange(listener: (state: BusState) => void): void {
    this.listeners.push(listener);
  }

  /** Every connection error (the connections retry by themselves; this is for counting them). */
  onError(listener: (err: Error) => void): void {
    this.errorListeners.push(listener);
  }

  /** Drops history entries before `streamId` from every table's history (one script per master). */
  async trimHistory(streamId: string): Promise<void> {
    if (!this.history) return;
    await trimClusterHistory(this.cluster, streamId);
  }

  /**
   * Every master's pub/sub subscribers and their output backlog (`CLIENT LIST TYPE pubsub`); ids are
   * `<node>/<client id>`. Rejects when a master does not answer within a second.
   */
  async subscriberBacklog(): Promise<SubscriberBacklog[]> {
    const lists = await forEachMaster(this.cluster, async (node) => {
      const key = `${node.options.host}:${node.options.port}`;
      const text = (await withTimeout(node.call('CLIENT', 'LIST', 'TYPE', 'pubsub'))) as string;
      return parseClientList(text).map((c) => ({ ...c, id: `${key}/${c.id}` }));
    });
    return lists.flat();
  }

  /** Closes one subscriber connection by the id {@link subscriberBacklog} gave (`CLIENT KILL ID`). */
  async closeSubscriber(id: string): Promise<void> {
    const slash = id.lastIndexOf('/');
    const node = masterNode(this.cluster, id.slice(0, slash));
    if (!node) throw new Error(`no Redis Cluster node ${id.slice(0, slash)}`);
    await withTimeout(node.call('CLIENT', 'KILL', 'ID', id.slice(slash + 1)));
  }

  /** Round trip to the cluster (a node of it); for readiness checks. */
  async ping(): Promise<void> {
    await this.cluster.ping();
  }

  async close(): Promise<void> {
    this.currentState = 'closed';
    for (const l of this.listeners) l('closed');
    const deadline = Date.now() + 1000;
    while (this.publisher.pendingCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5).unref());
    }
    this.publisher.close();
    this.subscriptions?.close();
    this.cluster.disconnect();
  }

  private fanInChannelOf(topic: string): string | null {
    let channel = this.fanInOf.get(topic);
    if (channel === undefined) {
      if (this.fanInOf.size >= FAN_IN_CACHE_MAX) this.fanInOf.clear();
      const table = parseTopic(topic);
      channel = table ? fanInChannelForSchema(table.schema) : null;
      this.fanInOf.set(topic, channel);
    }
    return channel;
  }

  private dispatch(channel: string, message: string): void {
    const patterns = this.patterns.get(channel);
    if (patterns) {
      const inner = decodeFanIn(message);
      if (!inner) return;
      for (const pattern of patterns) this.handler({ pattern }, inner.topic, inner.message);
      return;
    }
    if (this.topics.has(channel)) this.handler({ topic: channel }, channel, message);
  }

  private openSubscriber(nodeKey: string): Redis {
    return openNode(this.opts.cluster, nodeKey, {
      connectionName: `${this.opts.name}:sub`,
      autoResubscribe: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      retryStrategy: (attempt: number) => jitteredBackoffMs(attempt, 100, 2000),
    });
  }

  private onConnectionError(err: Error, role: string): void {
    this.opts.log.debug({ err, role }, 'redis cluster connection error');
    for (const l of this.errorListeners) l(err);
  }

  private recomputeState(): void {
    if (this.currentState === 'closed') return;
    const ready =
      this.cluster.status === 'ready' && (this.subscriptions === null || this.subscriptions.isLive);
    const next: BusState = ready
      ? 'ready'
      : this.currentState === 'connecting'
        ? 'connecting'
        : 'reconnecting';
    if (next === this.currentState) return;
    this.currentState = next;
    if (next === 'ready') this.opts.log.info('redis cluster ready');
    else this.opts.log.warn({ code: 'BusUnavailable' }, 'redis cluster connection lost; retrying');
    for (const l of this.listeners) l(next);
  }

  private requireSubscriptions(): ShardedSubscriptions {
    if (!this.subscriptions) throw new Error('this RedisClusterBus was created publishOnly');
    return this.subscriptions;
  }
}

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('redis did not answer in time')), ADMIN_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
