/**
 * The Redis pub/sub bus. Imports ioredis; logging is injected.
 *
 * Two connections, as pub/sub requires: `pub` publishes (a {@link RespPublisher}: every PUBLISH
 * issued in one event-loop turn goes out in one write, without ioredis's per-command cost; never
 * one awaited round trip per message), `sub` (ioredis) holds the subscriptions.
 *
 * After a reconnect the subscriptions are restored here, not by ioredis: in batches of at most
 * {@link RESUBSCRIBE_BATCH} names (and {@link RESUBSCRIBE_BATCH_BYTES}), one batch at a time, and
 * the bus reports `ready` only once all are restored. Redis answers a SUBSCRIBE with one reply per
 * name, so re-sending thousands at once can push the connection over Redis's output-buffer limit
 * for pub/sub clients; Redis then drops it, and ioredis's own resubscription would loop forever.
 *
 * With `history`, changes published with a history entry are written by batch into their tables'
 * histories and published in the same MULTI/EXEC transaction (history-batch.ts), in order with
 * other publishes.
 *
 * Invariants:
 * - `publish` retries across reconnects and never rejects because Redis is down; it resolves when
 *   Redis answered the PUBLISH. A caller bounds what it has in flight (the ingester pauses reading
 *   WAL), so memory stays bounded while Redis is away.
 * - `subscribe` resolves only after Redis confirmed the SUBSCRIBE/PSUBSCRIBE.
 * - Once `ready` again after a reconnect, every subscription held before it is live again.
 */
import type * as IORedis from 'ioredis';
import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from '@walcast/logger';
import { jitteredBackoffMs } from './backoff';
import type { Bus, BusHandler, BusKey, BusState } from './bus';
import { HistoryBatch, type HistoryEntry } from './history-batch';
import { TRIM_SCRIPT } from './history-scripts';
import { RespPublisher, scriptSha } from './resp-publisher';
import { HISTORY_TOPICS_KEY } from '@walcast/protocol';
import { parseClientList, type SubscriberBacklog } from './subscriber-backlog';
import { resubscribeBatches } from './resubscribe-batches';

export interface RedisBusOptions {
  url: string;
  /** Names the connections in `CLIENT LIST`. */
  name: string;
  log: Logger;
  /** Only publish, never subscribe (the ingester): no subscriber connection is opened. */
  publishOnly?: boolean;
  /** Keep a history of table changes: at most `maxLen` changes (about) per table. */
  history?: { maxLen: number };
}

/**
 * ioredis is loaded only when a subscriber connection is made: a publish-only bus (the ingester)
 * starts without it (loading it took as long as pg and pg-logical-replication together).
 */
function loadIoredis(): typeof IORedis {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('ioredis') as typeof IORedis;
}

const retryStrategy = (attempt: number): number => jitteredBackoffMs(attempt, 100, 5000);
/** History batches sent and unanswered before the next waits (see sendBatch). */
const MAX_BATCHES_IN_FLIGHT = 2;
/** What EXEC answers for an XADD of a pack already in its stream (a restart published it again). */
const REPEATED_ENTRY = /equal or smaller than the target stream top item/;
const TRIM_SHA = scriptSha(TRIM_SCRIPT);

export class RedisBus implements Bus {
  private readonly pub: RespPublisher;
  private readonly sub: Redis | null;
  /** For CLIENT LIST and CLIENT KILL; opened on first use. */
  private admin: Redis | null = null;
  private readonly url: string;
  private readonly name: string;
  private handler: BusHandler = () => undefined;
  private readonly listeners: Array<(s: BusState) => void> = [];
  private readonly errorListeners: Array<(err: Error) => void> = [];
  private currentState: BusState = 'connecting';
  private readonly log: Logger;
  /** What `sub` should be subscribed to: restored after each reconnect. */
  private readonly topics = new Set<string>();
  private readonly patterns = new Set<string>();
  /** True from a reconnect of `sub` until its subscriptions are restored. */
  private restoring = false;
  /** Counts `sub`'s connections, so a restore overtaken by a newer reconnect stops. */
  private connection = 0;
  private readonly history: { maxLen: number } | null;
  /** History writes not sent yet: those of the current event-loop turn, or held (see publish). */
  private readonly batch: HistoryBatch;
  private batchScheduled = false;
  /** Batches sent and not answered yet. */
  private batchesInFlight = 0;
  /** Topics added to HISTORY_TOPICS_KEY on the current publishing connection. */
  private readonly indexed = new Set<string>();

  constructor(opts: RedisBusOptions) {
    this.log = opts.log;
    this.url = opts.url;
    this.name = opts.name;
    const common: RedisOptions = {
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
      retryStrategy,
      lazyConnect: false,
    };
    this.history = opts.history ?? null;
    this.batch = new HistoryBatch(this.history?.maxLen ?? 1);
    this.pub = new RespPublisher({
      url: opts.url,
      name: `${opts.name}:pub`,
      retryDelayMs: retryStrategy,
      onStatus: (status) => {
        // A new connection may be to a Redis that lost its data: index topics again.
        if (status !== 'ready') this.indexed.clear();
        this.recomputeState();
      },
      onError: (err) => this.onConnectionError(err, 'pub'),
      scripts: this.history ? [TRIM_SCRIPT] : [],
    });
    this.sub = opts.publishOnly
      ? null
      : new (loadIoredis().Redis)(opts.url, {
          ...common,
          autoResubscribe: false,
          connectionName: `${opts.name}:sub`,
        });
    if (this.sub) {
      this.sub.on('ready', () => this.onSubReady());
      this.sub.on('close', () => this.recomputeState());
      this.sub.on('reconnecting', () => this.recomputeState());
      this.sub.on('error', (err: Error) => this.onConnectionError(err, 'sub'));
    }
    this.sub?.on('message', (topic: string, message: string) => this.handler({ topic }, topic, message));
    this.sub?.on('pmessage', (pattern: string, topic: string, message: string) =>
      this.handler({ pattern }, topic, message),
    );
  }

  get state(): BusState {
    return this.currentState;
  }

  private onConnectionError(err: Error, role: 'pub' | 'sub'): void {
    this.log.debug({ err, role }, 'redis connection error');
    for (const l of this.errorListeners) l(err);
  }

  /** `sub` connected (again): restores its subscriptions in bounded batches, then reports ready. */
  private onSubReady(): void {
    const sub = this.sub!;
    const connection = ++this.connection;
    if (this.topics.size === 0 && this.patterns.size === 0) {
      this.restoring = false;
      this.recomputeState();
      return;
    }
    this.restoring = true;
    this.recomputeState();
    const restore = async (): Promise<void> => {
      for (const batch of resubscribeBatches([...this.topics])) {
        if (connection !== this.connection) return;
        await sub.subscribe(...batch);
      }
      for (const batch of resubscribeBatches([...this.patterns])) {
        if (connection !== this.connection) return;
        await sub.psubscribe(...batch);
      }
      if (connection !== this.connection) return;
      this.restoring = false;
      this.log.info(
        { topics: this.topics.size, patterns: this.patterns.size },
        'redis subscriptions restored',
      );
      this.recomputeState();
    };
    restore().catch((err: unknown) => {
      // The connection broke meanwhile: its next `ready` restores again.
      this.log.debug({ err }, 'restoring redis subscriptions was interrupted');
    });
  }

  private recomputeState(): void {
    if (this.currentState === 'closed') return;
    const ready =
      this.pub.status === 'ready' && (this.sub === null || (this.sub.status === 'ready' && !this.restoring));
    const next: BusState = ready
      ? 'ready'
      : this.currentState === 'connecting'
        ? 'connecting'
        : 'reconnecting';
    if (next === this.currentState) return;
    this.currentState = next;
    if (next === 'ready') this.log.info('redis ready');
    else this.log.warn({ code: 'BusUnavailable' }, 'redis connection lost; retrying');
    for (const l of this.listeners) l(next);
  }

  publish(topic: string, message: string, history?: HistoryEntry): Promise<void> {
    if (!history || !this.history) {
      if (this.batch.size > 0) this.sendBatch(); // keeps publishing order
      return this.pub.publish(topic, message);
    }
    if (this.pub.status === 'closed') return Promise.reject(new Error('publisher is closed'));
    if (!this.indexed.has(topic)) {
      this.indexed.add(topic);
      this.pub.command(['SADD', HISTORY_TOPICS_KEY, topic]).catch((err: unknown) => {
        this.indexed.delete(topic);
        this.log.warn({ err, code: 'BusUnavailable' }, 'could not index a history topic');
      });
    }
    return new Promise((resolve, reject) => {
      if (this.batch.add(topic, message, history, { resolve, reject })) this.sendBatch();
      else if (!this.batchScheduled) {
        this.batchScheduled = true;
        setImmediate(() => {
          this.batchScheduled = false;
          if (this.batch.size > 0 && this.batchesInFlight < MAX_BATCHES_IN_FLIGHT) this.sendBatch();
        });
      }
    });
  }

  /**
   * Sends the batch. At the end of a turn a batch waits while {@link MAX_BATCHES_IN_FLIGHT} are
   * unanswered, and goes when one is answered (or when it is full): under load a few large
   * transactions instead of one per turn, each with its fixed cost in Redis; when idle, nothing
   * waits. Redis has the next batch queued while it runs one.
   */
  private sendBatch(): void {
    const { command, waiters } = this.batch.take();
    this.batchesInFlight++;
    this.pub.transaction(command.commands, command.parts).then(
      (errors) => {
        this.batchAnswered();
        // As the script's pcall did: a failed XADD fails alone; the changes were published.
        const unexpected = errors.filter((e) => !REPEATED_ENTRY.test(e));
        if (unexpected.length > 0) {
          this.log.warn(
            { errors: unexpected, code: 'BusUnavailable' },
            'redis refused history entries of a batch',
          );
        }
        waiters.forEach((w) => w.resolve());
      },
      (err: Error) => {
        this.batchAnswered();
        waiters.forEach((w) => w.reject(err));
      },
    );
  }

  private batchAnswered(): void {
    this.batchesInFlight--;
    if (this.batch.size > 0 && !this.batchScheduled) this.sendBatch();
  }

  /**
   * Drops history entries before `streamId` from every table's history (HISTORY_TTL). Resolves
   * once Redis did it.
   */
  trimHistory(streamId: string): Promise<void> {
    if (!this.history) return Promise.resolve();
    return this.pub.command(['EVALSHA', TRIM_SHA, '1', HISTORY_TOPICS_KEY, streamId]);
  }

  async subscribe(key: BusKey): Promise<void> {
    const sub = this.requireSub();
    if (key.topic !== undefined) {
      this.topics.add(key.topic);
      await sub.subscribe(key.topic);
    } else {
      this.patterns.add(key.pattern);
      await sub.psubscribe(key.pattern);
    }
  }

  async unsubscribe(key: BusKey): Promise<void> {
    const sub = this.requireSub();
    if (key.topic !== undefined) {
      this.topics.delete(key.topic);
      await sub.unsubscribe(key.topic);
    } else {
      this.patterns.delete(key.pattern);
      await sub.punsubscribe(key.pattern);
    }
  }

  onMessage(handler: BusHandler): void {
    this.handler = handler;
  }

  onStateChange(listener: (state: BusState) => void): void {
    this.listeners.push(listener);
  }

  /** Every connection error (ioredis retries by itself; this is for counting them). */
  onError(listener: (err: Error) => void): void {
    this.errorListeners.push(listener);
  }

  /**
   * The output backlog Redis holds for every pub/sub subscriber (`CLIENT LIST TYPE pubsub`), on a
   * connection of its own. Rejects when Redis cannot answer within a second.
   */
  async subscriberBacklog(): Promise<SubscriberBacklog[]> {
    const text = (await this.adminConnection().call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
    return parseClientList(text);
  }

  /** Closes one client connection by its Redis id (`CLIENT KILL ID`), e.g. a subscriber far behind. */
  async closeSubscriber(id: string): Promise<void> {
    await this.adminConnection().call('CLIENT', 'KILL', 'ID', id);
  }

  private adminConnection(): Redis {
    if (!this.admin) {
      this.admin = new (loadIoredis().Redis)(this.url, {
        maxRetriesPerRequest: 1,
        retryStrategy,
        commandTimeout: 1000,
        connectionName: `${this.name}:admin`,
      });
      this.admin.on('error', () => undefined); // Redis errors are counted on the other connections
    }
    return this.admin;
  }

  /** Round trip to Redis on the publishing connection; for readiness checks. */
  async ping(): Promise<void> {
    await this.pub.ping();
  }

  async close(): Promise<void> {
    if (this.batch.size > 0) this.sendBatch();
    this.currentState = 'closed';
    for (const l of this.listeners) l('closed');
    // Pending publishes never finish while Redis is away: wait for them, but boundedly.
    const deadline = Date.now() + 1000;
    while (this.pub.pendingCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 5).unref());
    }
    const quit = this.sub ? this.sub.quit().catch(() => undefined) : undefined;
    await Promise.race([
      quit,
      new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())).unref()),
    ]);
    this.pub.close();
    this.sub?.disconnect();
    this.admin?.disconnect();
  }

  private requireSub(): Redis {
    if (!this.sub) throw new Error('this RedisBus was created publishOnly');
    return this.sub;
  }
}
