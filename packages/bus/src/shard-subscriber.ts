/**
 * The sharded pub/sub subscriptions a gateway holds on one Redis Cluster node (its own ioredis
 * connection to that master). sharded-subscriptions.ts decides which node serves which channel.
 *
 * After a reconnect the subscriptions are restored here, not by ioredis: grouped by hash slot (one
 * SSUBSCRIBE names channels of one slot only) and in batches of at most RESUBSCRIBE_BATCH names,
 * one batch at a time; the node counts as live only once all are back (as RedisBus does on a single
 * Redis, for the same reason: Redis's output-buffer limit for pub/sub clients).
 *
 * Invariants:
 * - `subscribe` resolves only after this node confirmed the SSUBSCRIBE; a reply that the slot is
 *   served elsewhere (MOVED) rejects with {@link SlotMovedError}.
 * - `isDown` is true from the loss of a connection that was up (or a failed restore) until it is
 *   up again with every channel restored: messages may have been missed meanwhile. The first
 *   connection is not a loss (its subscribes wait for it).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '@walcast/logger';
import { hashSlot } from '@walcast/protocol';
import { resubscribeBatches } from './resubscribe-batches';

/** The node answered MOVED: the slot is served by another node now. */
export class SlotMovedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SlotMovedError';
  }
}

export class ShardSubscriber {
  /** Channels held here, by slot. */
  private readonly bySlot = new Map<number, Set<string>>();
  private restoring = false;
  /** The last restore failed (the node no longer serves a slot): not live until channels move. */
  private restoreFailed = false;
  private connection = 0;
  private wasReady = false;
  private isClosed = false;
  /** A live connection was lost (or a restore failed) and is not restored yet. */
  private lost = false;
  /** subscribe() calls waiting for the connection to be live (woken on every change). */
  private readonly waiters: Array<() => void> = [];

  constructor(
    readonly nodeKey: string,
    private readonly redis: Redis,
    private readonly log: Logger,
    /** Called when `isLive` may have changed, and with true when a live connection was lost. */
    private readonly onChange: (lost: boolean) => void,
    onMessage: (channel: string, message: string) => void,
  ) {
    redis.on('smessage', onMessage);
    redis.on('ready', () => this.onReady());
    redis.on('close', () => {
      const lost = this.wasReady;
      this.wasReady = false;
      if (lost) this.lost = true;
      this.onChange(lost);
    });
    redis.on('error', (err: Error) =>
      this.log.debug({ err, node: nodeKey }, 'shard subscriber connection error'),
    );
  }

  /** Connected, with every channel restored after the last reconnect. */
  get isLive(): boolean {
    return this.redis.status === 'ready' && !this.restoring && !this.restoreFailed;
  }

  /** Not live, after having been: a loss (see the module header). */
  get isDown(): boolean {
    return this.lost;
  }

  get size(): number {
    let n = 0;
    for (const set of this.bySlot.values()) n += set.size;
    return n;
  }

  has(channel: string): boolean {
    return this.bySlot.get(hashSlot(channel))?.has(channel) ?? false;
  }

  /** Every channel held, for moving them when slots change node. */
  channels(): string[] {
    return [...this.bySlot.values()].flatMap((set) => [...set]);
  }

  async subscribe(channel: string): Promise<void> {
    const slot = hashSlot(channel);
    let set = this.bySlot.get(slot);
    if (!set) this.bySlot.set(slot, (set = new Set()));
    set.add(channel);
    while (!this.isLive && this.has(channel) && !this.isClosed) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.isClosed) throw new Error('the subscriber is closed');
    if (!this.has(channel)) throw new SlotMovedError(`${channel} left ${this.nodeKey} while it reconnected`);
    try {
      await this.redis.ssubscribe(channel);
    } catch (err) {
      this.forget(channel);
      throw asMoved(err);
    }
  }

  /** Drops `channel` here; SUNSUBSCRIBE when connected (ignored when it fails: the node may be gone). */
  async unsubscribe(channel: string): Promise<void> {
    if (!this.forget(channel)) return;
    if (this.redis.status === 'ready') await this.redis.sunsubscribe(channel).catch(() => undefined);
  }

  /** Forgets `channel` without telling the node (it is moving elsewhere); true when it was held. */
  forget(channel: string): boolean {
    const slot = hashSlot(channel);
    const set = this.bySlot.get(slot);
    if (!set?.delete(channel)) return false;
    if (set.size === 0) this.bySlot.delete(slot);
    this.wake();
    return true;
  }

  close(): void {
    this.isClosed = true;
    this.redis.disconnect();
    this.wake();
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  private onReady(): void {
    const connection = ++this.connection;
    this.wasReady = true;
    this.restoring = true;
    this.restoreFailed = false;
    this.onChange(false);
    const restore = async (): Promise<void> => {
      let restored = 0;
      for (const set of [...this.bySlot.values()]) {
        for (const batch of resubscribeBatches([...set])) {
          if (connection !== this.connection) return;
          await this.redis.ssubscribe(...batch);
          restored += batch.length;
        }
      }
      if (connection !== this.connection) return;
      this.restoring = false;
      this.lost = false;
      if (restored > 0)
        this.log.info({ node: this.nodeKey, channels: restored }, 'shard subscriptions restored');
      this.wake();
      this.onChange(false);
    };
    restore().catch((err: unknown) => {
      // A MOVED here means the topology changed: the next refresh moves the channels; a broken
      // connection restores again on its next `ready`.
      this.log.debug({ err, node: this.nodeKey }, 'restoring shard subscriptions was interrupted');
      if (connection !== this.connection) return;
      this.restoring = false;
      this.restoreFailed = true;
      this.lost = true;
      this.wake();
      this.onChange(true);
    });
  }
}

function asMoved(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  return /^(MOVED|ASK|CLUSTERDOWN)\b/.test(e.message) ? new SlotMovedError(e.message) : e;
}
