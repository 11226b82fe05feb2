/**
 * The cluster-wide presence store: a channel's presence state is the union of what every gateway
 * tracks, kept in Redis so that gateways stay stateless (any gateway serves any channel's state).
 *
 * Lifecycle: `createRedisPresenceStore` opens one ioredis connection; `start()` takes the lease
 * (renewed every leaseMs/3) and starts the sweep of lapsed gateways (every second at most); `stop()`
 * removes this gateway's entries, publishing their leaves, and closes the connection.
 *
 * Data (key names in @walcast/protocol topics.ts, scripts in presence-scripts.ts): per channel a hash
 * `<gateway>|<phx_ref>` → entry and, per gateway, the set of its phx_refs there; per gateway the set
 * of its channels; a sorted set of leases scored by expiry on Redis's clock.
 *
 * Invariants:
 * - Every state change and its diff are one script: diffs on a channel's broadcast topic come in
 *   the order of its state changes, and a diff is published if and only if the state changed.
 * - Memory holds only what this gateway tracks (its desired entries), never others' entries. It is
 *   updated when a track is sent, and reverted when the track fails, so it always reflects what
 *   callers were told.
 * - Redis converges to that memory: after a reconnect, when our lease was found missing (swept, or
 *   Redis restarted empty) and after any failed command, this gateway re-asserts its entries (those
 *   missing join, those it no longer holds leave) and then calls the onResync listeners.
 * - A gateway that stops renewing is swept by exactly one survivor within leaseMs plus one sweep
 *   period (presence-sweeper.ts), which publishes its leaves.
 * - No reply grows with what other gateways hold, except list(): one HVALS of the channel's hash.
 *
 * Redis Cluster (presence-keyspace.ts): a channel's keys and this gateway's channel set for the
 * channel's hash slot share that slot, so each script still changes the state and SPUBLISHes its
 * diff atomically; the slots where this gateway has a channel set are listed in a set of their own
 * (added before the first script in a slot). A lapsed lease is noticed by the next renewal, and a
 * gateway swept while alive re-asserts once more when no sweep of it is left (a sweep can no longer
 * check the lease atomically per channel). A node that reconnects or a slot whose master changed
 * makes the store re-assert, as a Redis reconnect does.
 * Imports ioredis; logging and metrics are injected.
 *
 * Longer than 400 lines because the agreed contract (interfaces and their docs) sits here with its
 * one implementation; the scripts, value codec and sweeper are in their own files.
 */
import type { RedisTarget } from '@walcast/bus';
import { LogThrottle, type Logger } from '@walcast/logger';
import { parseBroadcastTopic, presenceFieldPrefix } from '@walcast/protocol';
import { decodePresenceValue, encodePresenceValue, presenceDiffJson } from './presence-codec';
import { openPresenceConnection } from './presence-connection';
import type { ChannelPresenceKeys, PresenceKeyspace } from './presence-keyspace';
import { type PresenceRedis, presenceEnvelopePrefix } from './presence-scripts';
import { PresenceSweeper, TOPICS_PER_BATCH } from './presence-sweeper';

/** One tracked presence: the presence key and its meta (the tracked payload plus phx_ref, and phx_ref_prev after an update). */
/** Cluster: the least time between two looks at the lease from tracks and untracks. */
const LEASE_CHECK_MS = 100;

/** The longest wait between two sweeps for lapsed gateways. */
export const SWEEP_PERIOD_MS = 1000;

export interface PresenceEntry {
  key: string;
  meta: { phx_ref: string; phx_ref_prev?: string; [field: string]: unknown };
}

/** A channel topic in its namespace. */
export interface PresenceTopic {
  subtopic: string;
  isPrivate: boolean;
}

export interface PresenceStore {
  /** Records `entry` for `topic` as this gateway's (replacing `previous`, one of ours, when given: an update) and
   *  publishes the diff {joins:{key:{metas:[meta]}}, leaves: previous ? {key:{metas:[previous.meta]}} : {}} —
   *  state change and publish atomically (MULTI/EXEC, or a Lua script), so the order of diffs on the channel is the
   *  order of state changes. Resolves once Redis accepted it; rejects when Redis is unavailable. */
  track(topic: PresenceTopic, entry: PresenceEntry, previous: PresenceEntry | null): Promise<void>;
  /** Removes one of this gateway's entries and publishes its leave diff. */
  untrack(topic: PresenceTopic, entry: PresenceEntry): Promise<void>;
  /** Every entry of the topic, from every live gateway (one round trip; fast at 10,000 entries). */
  list(topic: PresenceTopic): Promise<PresenceEntry[]>;
  /** Starts the lease (renewed every PRESENCE_LEASE/3) and the sweep of lapsed gateways. */
  start(): void;
  /** Stops renewing; removes this gateway's entries and publishes their leaves (a clean shutdown). */
  stop(): Promise<void>;
  /** Called after this gateway re-asserted its entries (Redis came back empty, or our lease had lapsed and survivors
   *  swept us): the caller then pushes a fresh presence_state to its members of these topics. */
  onResync(listener: (topics: PresenceTopic[]) => void): void;
}

/** Why this gateway re-asserted its entries: Redis reconnected, our lease was missing, or a command had failed. */
export type PresenceResyncReason = 'reconnect' | 'lease' | 'retry';

/** The counters the store feeds (GatewayMetrics has them). */
export interface PresenceStoreMetrics {
  presenceGatewaysSwept: { inc(): void };
  presenceResyncs: { inc(labels: { reason: PresenceResyncReason }): void };
  presenceMalformedEntries: { inc(value?: number): void };
  presenceListSeconds: { observe(seconds: number): void };
}

export interface RedisPresenceStoreOptions {
  /** One Redis (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES). */
  redis: RedisTarget;
  /** Unique per process start (INSTANCE_ID): names this gateway's entries and lease. */
  gatewayId: string;
  /** PRESENCE_LEASE: a gateway not renewing for this long is swept. */
  leaseMs: number;
  log: Logger;
  metrics?: PresenceStoreMetrics;
  /** Stamps the `ts` of published diffs. Leases use Redis's clock, shared by every gateway. */
  now?: () => number;
}

/** track/untrack/list failed because Redis is unavailable (or did not answer in time). */
export class PresenceStoreError extends Error {
  readonly code = 'PresenceUnavailable';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PresenceStoreError';
  }
}

export function createRedisPresenceStore(opts: RedisPresenceStoreOptions): PresenceStore {
  return new RedisPresenceStore(opts);
}

/** What this gateway tracks in one channel, by phx_ref. */
interface LocalChannel {
  topic: PresenceTopic;
  keys: ChannelPresenceKeys;
  entries: Map<string, PresenceEntry>;
}

type StoreState = 'idle' | 'running' | 'stopping' | 'stopped';
/** `settle`: once more after a sweep of this gateway ended (cluster; see the module header). */
type ReassertReason = PresenceResyncReason | 'start' | 'settle';

export class RedisPresenceStore implements PresenceStore {
  private state: StoreState = 'idle';
  private readonly redis: PresenceRedis;
  private readonly keyspace: PresenceKeyspace;
  private readonly sweeper: PresenceSweeper;
  /** Cluster: the slots already in this gateway's slot set (on this connection's Redis data). */
  private readonly indexedSlots = new Set<number>();
  /** Cluster: re-assert once more when no survivor is sweeping this gateway any more. */
  private isSettlePending = false;
  /** Cluster: when a track or untrack last looked whether our lease is still there. */
  private lastLeaseCheckMs = 0;
  /** Names this gateway's entries and lease. */
  readonly gatewayId: string;
  private readonly leaseMs: number;
  private readonly log: Logger;
  private readonly metrics: PresenceStoreMetrics | undefined;
  private readonly now: () => number;
  private readonly fieldPrefix: string;
  private readonly throttle = new LogThrottle({ max: 5, windowMs: 60_000 });
  /** By channel (broadcast topic). */
  private readonly local = new Map<string, LocalChannel>();
  private readonly listeners: Array<(topics: PresenceTopic[]) => void> = [];
  private renewTimer: NodeJS.Timeout | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** A renewal succeeded since start: a missing lease from now on means we were swept. */
  private hasLease = false;
  private wasReady = false;
  private isOutageLogged = false;
  /** A command failed: Redis may differ from memory until the next re-assert. */
  private needsReassert = false;
  private reasserting: Promise<void> | null = null;
  private pendingReason: ReassertReason | null = null;
  private stopping: Promise<void> | null = null;

  constructor(opts: RedisPresenceStoreOptions) {
    this.gatewayId = opts.gatewayId;
    this.leaseMs = opts.leaseMs;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.now = opts.now ?? Date.now;
    this.fieldPrefix = presenceFieldPrefix(opts.gatewayId);
    const { redis, keyspace } = openPresenceConnection({
      target: opts.redis,
      name: `${opts.gatewayId}:presence`,
      leaseMs: opts.leaseMs,
      log: opts.log,
      onNodeRestored: () => {
        if (this.wasReady && this.state === 'running') this.requestReassert('reconnect');
      },
    });
    this.redis = redis;
    this.keyspace = keyspace;
    this.sweeper = new PresenceSweeper(redis, keyspace, opts.gatewayId, opts.leaseMs, opts.log, this.now);
    redis.on('ready', () => this.onReady());
    redis.on('close', () => this.onClose());
    redis.on('error', (err: Error) => this.log.debug({ err }, 'presence redis connection error'));
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    const periodMs = Math.max(1, Math.floor(this.leaseMs / 3));
    this.renewTimer = setInterval(() => this.onRenewTick(), periodMs).unref();
    // Sweeping often (one small script a second) keeps a dead gateway's leaves within lease + 1 s.
    this.scheduleSweep(Math.min(periodMs, SWEEP_PERIOD_MS));
    if (this.redis.status === 'ready') this.requestReassert('start');
  }

  onResync(listener: (topics: PresenceTopic[]) => void): void {
    this.listeners.push(listener);
  }

  async track(topic: PresenceTopic, entry: PresenceEntry, previous: PresenceEntry | null): Promise<void> {
    this.assertOpen();
    const value = encodePresenceValue(entry);
    const diff = presenceDiffJson([entry], previous ? [previous] : []);
    const channel = this.localChannel(topic);
    const ref = entry.meta.phx_ref;
    const previousRef = previous?.meta.phx_ref ?? '';
    if (previous) channel.entries.delete(previousRef);
    channel.entries.set(ref, entry);
    let isLeaseRestored: number;
    try {
      await this.indexSlot(channel.keys.slot);
      isLeaseRestored = await this.redis.presenceTrack(
        ...channel.keys.keys,
        this.fieldPrefix,
        ref,
        value,
        previousRef,
        channel.keys.channel,
        channel.keys.channel,
        presenceEnvelopePrefix(this.gatewayId, this.now()) + diff,
        this.leaseArg(),
        this.gatewayId,
      );
    } catch (err) {
      this.revertTrack(channel, entry, previous);
      throw this.failed(err, 'track');
    }
    if (isLeaseRestored === 1) this.onLeaseMissing();
    else this.checkLeaseSoon();
  }

  async untrack(topic: PresenceTopic, entry: PresenceEntry): Promise<void> {
    this.assertOpen();
    const keys = this.keyspace.channelKeys(topic.subtopic, topic.isPrivate, this.gatewayId);
    // Memory forgets it whatever Redis says: a failed untrack is completed by the next re-assert.
    const channel = this.local.get(keys.channel);
    channel?.entries.delete(entry.meta.phx_ref);
    if (channel?.entries.size === 0) this.local.delete(keys.channel);
    let isLeaseRestored: number;
    try {
      isLeaseRestored = await this.redis.presenceUntrack(
        ...keys.keys,
        this.fieldPrefix,
        entry.meta.phx_ref,
        keys.channel,
        keys.channel,
        presenceEnvelopePrefix(this.gatewayId, this.now()) + presenceDiffJson([], [entry]),
        this.leaseArg(),
        this.gatewayId,
      );
    } catch (err) {
      throw this.failed(err, 'untrack');
    }
    if (isLeaseRestored === 1) this.onLeaseMissing();
    else this.checkLeaseSoon();
  }

  async list(topic: PresenceTopic): Promise<PresenceEntry[]> {
    const startedMs = performance.now();
    let values: string[];
    try {
      values = await this.redis.hvals(this.keyspace.stateKey(topic.subtopic, topic.isPrivate));
    } catch (err) {
      throw new PresenceStoreError('presence state could not be read: Redis is unavailable', { cause: err });
    }
    const entries: PresenceEntry[] = [];
    for (const text of values) {
      const entry = decodePresenceValue<PresenceEntry>(text);
      if (entry) entries.push(entry);
    }
    const malformed = values.length - entries.length;
    if (malformed > 0) {
      this.metrics?.presenceMalformedEntries.inc(malformed);
      this.throttle.warn(
        this.log,
        { code: 'MalformedPresenceEntry', channel: topic.subtopic, isPrivate: topic.isPrivate, malformed },
        'skipped stored presence entries that are not valid entries',
      );
    }
    this.metrics?.presenceListSeconds.observe((performance.now() - startedMs) / 1000);
    return entries;
  }

  stop(): Promise<void> {
    if (this.state === 'stopped' && !this.stopping) return Promise.resolve(); // abandoned
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /**
   * Stops timers and drops the connection without removing anything: what a killed process leaves
   * behind (its lease lapses and survivors sweep it). For fault tests.
   */
  abandon(): void {
    this.state = 'stopped';
    this.clearTimers();
    this.redis.disconnect();
  }

  private async doStop(): Promise<void> {
    const wasRunning = this.state === 'running';
    this.state = 'stopping';
    this.clearTimers();
    await this.reasserting;
    try {
      // Swept while our lease still stands, so no survivor sweeps us concurrently; should this fail
      // midway, the lease lapses and survivors finish the job.
      const result = await this.sweeper.sweepGateway(this.gatewayId, true);
      await this.redis.zrem(this.keyspace.leasesKey, this.gatewayId);
      if (wasRunning || result.leaves > 0) this.log.info(result, 'presence entries removed');
    } catch (err) {
      this.log.warn(
        { err, code: 'PresenceUnavailable' },
        'could not remove this gateway’s presences; other gateways remove them once its lease lapses',
      );
    }
    this.local.clear();
    this.state = 'stopped';
    await this.redis.quit().catch(() => undefined); // not connected: nothing to quit
    this.redis.disconnect();
  }

  private assertOpen(): void {
    if (this.state === 'stopping' || this.state === 'stopped') {
      throw new PresenceStoreError('the presence store is stopped');
    }
  }

  private localChannel(topic: PresenceTopic): LocalChannel {
    const keys = this.keyspace.channelKeys(topic.subtopic, topic.isPrivate, this.gatewayId);
    let channel = this.local.get(keys.channel);
    if (!channel) {
      channel = { topic: { subtopic: topic.subtopic, isPrivate: topic.isPrivate }, keys, entries: new Map() };
      this.local.set(keys.channel, channel);
    }
    return channel;
  }

  /** Undoes a failed track in memory: the caller was told it did not happen. */
  private revertTrack(channel: LocalChannel, entry: PresenceEntry, previous: PresenceEntry | null): void {
    const current = this.local.get(channel.keys.channel) ?? channel;
    if (current.entries.get(entry.meta.phx_ref) === entry) current.entries.delete(entry.meta.phx_ref);
    if (previous && !current.entries.has(previous.meta.phx_ref)) {
      current.entries.set(previous.meta.phx_ref, previous);
      this.local.set(current.keys.channel, current);
    }
    if (current.entries.size === 0) this.local.delete(current.keys.channel);
  }

  private failed(err: unknown, what: 'track' | 'untrack'): PresenceStoreError {
    this.needsReassert = true;
    return new PresenceStoreError(`presence ${what} failed: Redis is unavailable`, { cause: err });
  }

  /** The lease argument of track/untrack: '0' before our first renewal (nothing to restore yet). */
  private leaseArg(): string {
    return this.hasLease && this.state === 'running' ? String(this.leaseMs) : '0';
  }

  private onReady(): void {
    const reason: ReassertReason = this.wasReady ? 'reconnect' : 'start';
    this.wasReady = true;
    if (this.isOutageLogged) this.log.info('presence store: redis ready again');
    this.isOutageLogged = false;
    if (this.state === 'running') this.requestReassert(reason);
  }

  private onClose(): void {
    if (!this.wasReady || this.isOutageLogged || this.state !== 'running') return;
    this.isOutageLogged = true;
    this.log.warn(
      { code: 'PresenceUnavailable' },
      'presence store lost redis; track and untrack fail until it is back',
    );
  }

  private onLeaseMissing(): void {
    this.log.warn(
      { code: 'PresenceResync', gateway: this.gatewayId },
      'this gateway’s presence lease was missing (swept, or Redis lost it); re-asserting its presences',
    );
    this.requestReassert('lease');
  }

  private onRenewTick(): void {
    if (this.state !== 'running' || this.redis.status !== 'ready') return;
    if (this.needsReassert) {
      this.needsReassert = false;
      this.requestReassert('retry'); // it renews the lease first
      return;
    }
    if (this.isSettlePending) this.settleIfUnswept();
    this.redis
      .presenceRenew(this.keyspace.leasesKey, this.gatewayId, String(this.leaseMs))
      .then((added) => {
        const wasSwept = added === 1 && this.hasLease;
        this.hasLease = true;
        if (wasSwept) this.onLeaseMissing();
      })
      .catch((err: unknown) => {
        this.needsReassert = true;
        this.log.debug({ err }, 'presence lease renewal failed');
      });
  }

  private scheduleSweep(periodMs: number): void {
    this.sweepTimer = setTimeout(() => {
      void this.sweepOnce().finally(() => {
        if (this.state === 'running') this.scheduleSweep(periodMs);
      });
    }, periodMs).unref();
  }

  private async sweepOnce(): Promise<void> {
    if (this.state !== 'running' || !this.hasLease || this.redis.status !== 'ready') return;
    try {
      const swept = await this.sweeper.sweepLapsed();
      for (let i = 0; i < swept.size; i++) this.metrics?.presenceGatewaysSwept.inc();
    } catch (err) {
      this.log.debug({ err }, 'presence sweep failed; the next one retries');
    }
  }

  private clearTimers(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.renewTimer = this.sweepTimer = null;
  }

  /** Runs one re-assert at a time; requests arriving meanwhile run once more after it. */
  private requestReassert(reason: ReassertReason): void {
    if (this.state !== 'running') return;
    if (this.reasserting) {
      this.pendingReason ??= reason;
      return;
    }
    this.reasserting = this.reassertLoop(reason).finally(() => {
      this.reasserting = null;
    });
  }

  private async reassertLoop(first: ReassertReason): Promise<void> {
    let reason: ReassertReason | null = first;
    while (reason && this.state === 'running') {
      this.pendingReason = null;
      try {
        await this.reassert(reason);
      } catch (err) {
        this.needsReassert = true; // the next renewal tick, or the next `ready`, tries again
        this.log.debug({ err, reason }, 'presence re-assert failed');
      }
      reason = this.pendingReason;
    }
  }

  /**
   * Renews the lease, makes Redis hold exactly our entries (each channel in one script) and drops
   * channels Redis lists for us that we no longer hold; then tells the listeners.
   */
  private async reassert(reason: ReassertReason): Promise<void> {
    await this.redis.presenceRenew(this.keyspace.leasesKey, this.gatewayId, String(this.leaseMs));
    this.hasLease = true;
    // Re-add every slot to the slot set (Redis may have lost it with the rest).
    this.indexedSlots.clear();
    if (reason === 'lease' && this.keyspace.isCluster) this.isSettlePending = true;
    const channels = [...this.local.values()];
    let joins = 0;
    let leaves = 0;
    const count = ([j, l]: [number, number]): void => {
      joins += j;
      leaves += l;
    };
    for (let i = 0; i < channels.length; i += TOPICS_PER_BATCH) {
      const batch = channels.slice(i, i + TOPICS_PER_BATCH);
      // Entries are read as each script is sent (a channel may have changed since the batch began).
      const sent = batch.map((c) =>
        this.assertChannel(c.keys, [...(this.local.get(c.keys.channel)?.entries.values() ?? [])]),
      );
      (await Promise.all(sent)).forEach(count);
    }
    for (const topicsKey of await this.gatewayTopicsKeys()) {
      let cursor = '0';
      do {
        const [next, members] = await this.redis.sscan(topicsKey, cursor, 'COUNT', TOPICS_PER_BATCH);
        const stale = members.filter((m) => !this.local.has(m));
        (await Promise.all(stale.map((m) => this.assertStaleChannel(topicsKey, m)))).forEach(count);
        cursor = next;
      } while (cursor !== '0');
    }
    if (reason === 'start') return;
    if (reason !== 'settle') this.metrics?.presenceResyncs.inc({ reason });
    const topics = [...this.local.values()].map((c) => ({ ...c.topic }));
    this.log.info({ reason, topics: topics.length, joins, leaves }, 'presence entries re-asserted');
    for (const listener of this.listeners) listener(topics);
  }

  /** Sends one channel's assert script, ordered with every other command on the connection. */
  private async assertChannel(
    keys: ChannelPresenceKeys,
    entries: PresenceEntry[],
  ): Promise<[number, number]> {
    if (entries.length > 0) await this.indexSlot(keys.slot);
    const pairs: string[] = [];
    for (const e of entries) pairs.push(e.meta.phx_ref, encodePresenceValue(e));
    return this.redis.presenceAssert(
      ...keys.keys,
      this.fieldPrefix,
      keys.channel,
      keys.channel,
      presenceEnvelopePrefix(this.gatewayId, this.now()),
      ...pairs,
    );
  }

  /** A channel Redis lists for us that memory does not hold (a failed untrack, a previous life): emptied. */
  private async assertStaleChannel(topicsKey: string, member: string): Promise<[number, number]> {
    const topic = parseBroadcastTopic(member);
    if (!topic) {
      await this.redis.srem(topicsKey, member);
      return [0, 0];
    }
    return this.assertChannel(this.keyspace.channelKeys(topic.subtopic, topic.isPrivate, this.gatewayId), []);
  }

  /** The keys of this gateway's channel sets (one per slot in its slot set, on a cluster). */
  private async gatewayTopicsKeys(): Promise<string[]> {
    const slotsKey = this.keyspace.slotsKey(this.gatewayId);
    const slots = slotsKey ? (await this.redis.smembers(slotsKey)).map(Number) : [];
    return this.keyspace.gatewayTopicsKeys(this.gatewayId, slots);
  }

  /** Cluster: adds `slot` to this gateway's slot set before its first script there (so sweeps find it). */
  private async indexSlot(slot: number): Promise<void> {
    const slotsKey = this.keyspace.slotsKey(this.gatewayId);
    if (slotsKey === null || this.indexedSlots.has(slot)) return;
    await this.redis.sadd(slotsKey, String(slot));
    this.indexedSlots.add(slot);
  }

  /**
   * Cluster: the scripts cannot see the lease, so a track or untrack looks (at most every 100 ms,
   * and never waiting for it) whether it is still there, as the scripts do on one Redis.
   */
  private checkLeaseSoon(): void {
    const now = Date.now();
    if (!this.keyspace.isCluster || !this.hasLease || now - this.lastLeaseCheckMs < LEASE_CHECK_MS) return;
    this.lastLeaseCheckMs = now;
    this.redis.zscore(this.keyspace.leasesKey, this.gatewayId).then(
      (score) => {
        if (score === null && this.hasLease && this.state === 'running') this.onLeaseMissing();
      },
      (err: unknown) => this.log.debug({ err }, 'could not read the presence lease'),
    );
  }

  /** Cluster: once no survivor is sweeping this gateway, re-asserts once more (it may have swept after us). */
  private settleIfUnswept(): void {
    this.redis.zscore(this.keyspace.sweepsKey, this.gatewayId).then(
      (score) => {
        if (score !== null || !this.isSettlePending) return;
        this.isSettlePending = false;
        this.requestReassert('settle');
      },
      (err: unknown) => this.log.debug({ err }, 'could not read the presence sweeps'),
    );
  }
}
