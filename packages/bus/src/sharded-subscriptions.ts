/**
 * A gateway's sharded pub/sub subscriptions across a Redis Cluster: each shard channel is
 * subscribed on the master that serves its hash slot, through one ShardSubscriber (one connection)
 * per master that holds any. The slot map is ioredis's Cluster's (refreshed periodically, when a
 * subscriber connection breaks, and after a MOVED).
 *
 * When a slot's master changes (a failover, a resharding), its channels are moved to the new master
 * and subscribed there; messages published meanwhile may be lost, so this counts as a loss (`onChange(
 * true)`) and `isLive` stays false until every moved channel is confirmed.
 *
 * Invariants:
 * - `subscribe` resolves once the master of the channel's slot confirmed it.
 * - `isLive`: no subscriber holding channels lost its connection (and has not restored them all
 *   since), and no channel is being moved. A subscriber still making its first connection does not
 *   count: subscribes to it wait for it.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '@walcast/logger';
import { hashSlot } from '@walcast/protocol';
import { ShardSubscriber, SlotMovedError } from './shard-subscriber';

export interface ShardedSubscriptionsOptions {
  cluster: Cluster;
  /** Opens a subscriber connection to a node (`host:port`). */
  connect(nodeKey: string): Redis;
  onMessage(channel: string, message: string): void;
  /** Liveness may have changed; `lost` when messages may have been missed. */
  onChange(lost: boolean): void;
  log: Logger;
}

/** Attempts of one subscribe that keep meeting MOVED (the slot map is stale) before it gives up. */
const MAX_MOVES = 5;

export class ShardedSubscriptions {
  private readonly nodes = new Map<string, ShardSubscriber>();
  private readonly placed = new Map<string, ShardSubscriber>();
  /** Channels to subscribe again on their slot's new master: true while that is in flight. */
  private readonly moving = new Map<string, boolean>();
  private isClosed = false;

  constructor(private readonly opts: ShardedSubscriptionsOptions) {
    opts.cluster.on('refresh', () => this.onTopology());
  }

  get size(): number {
    return this.placed.size;
  }

  get isLive(): boolean {
    if (this.moving.size > 0) return false;
    for (const node of this.nodes.values()) if (node.size > 0 && node.isDown) return false;
    return true;
  }

  async subscribe(channel: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const node = await this.nodeFor(channel);
      this.placed.set(channel, node);
      try {
        await node.subscribe(channel);
        return;
      } catch (err) {
        if (this.placed.get(channel) === node) this.placed.delete(channel);
        if (!(err instanceof SlotMovedError) || attempt >= MAX_MOVES || this.isClosed) throw err;
        await this.refresh();
      }
    }
  }

  async unsubscribe(channel: string): Promise<void> {
    const node = this.placed.get(channel);
    this.placed.delete(channel);
    this.moving.delete(channel);
    await node?.unsubscribe(channel);
    if (node) this.dropIfUnused(node);
  }

  close(): void {
    this.isClosed = true;
    for (const node of this.nodes.values()) node.close();
    this.nodes.clear();
    this.placed.clear();
  }

  /** The subscriber of the master serving `channel`'s slot (opened on first use). */
  private async nodeFor(channel: string): Promise<ShardSubscriber> {
    let key = this.opts.cluster.slots[hashSlot(channel)]?.[0];
    if (key === undefined) {
      // Not connected yet (commands wait for the cluster), or the slot map is stale.
      if (this.opts.cluster.status !== 'ready') await this.opts.cluster.ping();
      else await this.refresh();
      key = this.opts.cluster.slots[hashSlot(channel)]?.[0];
      if (key === undefined) throw new Error(`no Redis Cluster node serves the slot of ${channel}`);
    }
    let node = this.nodes.get(key);
    if (!node) {
      const nodeKey = key;
      node = new ShardSubscriber(
        nodeKey,
        this.opts.connect(nodeKey),
        this.opts.log,
        (lost) => {
          if (lost) this.opts.cluster.refreshSlotsCache();
          this.opts.onChange(lost);
        },
        this.opts.onMessage,
      );
      this.nodes.set(nodeKey, node);
    }
    return node;
  }

  private refresh(): Promise<void> {
    return new Promise((resolve) => this.opts.cluster.refreshSlotsCache(() => resolve()));
  }

  /** The slot map changed: channels whose slot has another master now move there. */
  private onTopology(): void {
    if (this.isClosed) return;
    let moved = 0;
    for (const [channel, node] of [...this.placed]) {
      const master = this.opts.cluster.slots[hashSlot(channel)]?.[0];
      const isRetry = this.moving.get(channel) === false;
      if (master === undefined || this.moving.get(channel) === true) continue;
      if (master === node.nodeKey && !isRetry) continue;
      node.forget(channel);
      this.moving.set(channel, true);
      moved++;
      this.subscribe(channel).then(
        () => {
          if (this.moving.delete(channel)) this.opts.onChange(false);
          else void this.unsubscribe(channel); // unsubscribed while it moved
        },
        (err: unknown) => {
          if (!this.moving.has(channel)) return;
          // Tried again after the next refresh (the channel stays counted as moving: not live).
          this.moving.set(channel, false);
          this.placed.set(channel, node);
          this.opts.log.warn({ err, channel, code: 'BusUnavailable' }, 'could not move a shard subscription');
          setTimeout(() => this.opts.cluster.refreshSlotsCache(), 500).unref();
        },
      );
    }
    for (const node of [...this.nodes.values()]) this.dropIfUnused(node);
    if (moved > 0) {
      this.opts.log.warn(
        { channels: moved, code: 'BusUnavailable' },
        'hash slots moved; shard subscriptions follow',
      );
      this.opts.onChange(true);
    }
  }

  /** Closes a subscriber that holds nothing and whose node serves no slot any more. */
  private dropIfUnused(node: ShardSubscriber): void {
    if (node.size > 0 || this.opts.cluster.slots.some((owners) => owners?.[0] === node.nodeKey)) return;
    node.close();
    this.nodes.delete(node.nodeKey);
  }
}
