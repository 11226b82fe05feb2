/**
 * Publishing to a Redis Cluster (the ingester's and the gateways' publishing side with
 * REDIS_CLUSTER_NODES). Messages are grouped by hash slot; each slot's messages go out as one
 * CLUSTER_BATCH_SCRIPT call (cluster-scripts.ts), which SPUBLISHes them on their shard channels and
 * writes table changes into their history streams. ioredis's Cluster routes each call to the slot's
 * master and follows MOVED/ASK redirections and topology refreshes. Imports ioredis (by type);
 * logging is injected.
 *
 * Invariants:
 * - Per slot, at most one call is in flight, and the next one starts only after its reply: messages
 *   of one channel (one slot) reach Redis in publish order whatever redirections and retries do;
 *   while a call is out, later messages for the slot gather into the next call.
 * - A publish resolves only when its slot's master accepted the call that carried it. A call that
 *   fails because the slot is unreachable (a master died and a replica is not yet promoted, the
 *   cluster is down, a connection broke) is sent again after a jittered backoff, for as long as it
 *   takes; only a Redis error reply that is not about the topology (a script error, OOM), or
 *   close(), rejects. So "every publish before a position resolved" means every shard holding one
 *   of them accepted it: the ingester's confirmation rule holds across shards.
 * - History start per slot: set (NX) by the first call that writes history to the slot; every slot's
 *   start is seeded (NX) when history is first written and whenever a node connection is made again
 *   (a node may have restarted empty). When a slot's master changes (a failover: the replica may have
 *   missed the last writes), its start is overwritten, so readers do not count on entries the old
 *   master may have taken with it, unless the new master holds the last history position the old
 *   one accepted for the slot (each call records it with the slot: replication applies writes in
 *   order, so it then holds every earlier one too).
 */
import type { Cluster } from 'ioredis';
import type { Logger } from '@walcast/logger';
import { HASH_SLOTS, hashSlot, historyStartKeyForSlot } from '@walcast/protocol';
import { jitteredBackoffMs } from './backoff';
import { SlotBatch, type SlotCall } from './cluster-batch';
import { CLUSTER_BATCH_SCRIPT } from './cluster-scripts';
import { restartSlots, setEverySlot } from './cluster-slots';
import type { HistoryEntry } from './history-batch';
import { HistoryCutoffs, packLimit } from './history-packs';

export interface ClusterPublisherOptions {
  cluster: Cluster;
  /** Keep a history of table changes: at most `maxLen` changes (about) per table. */
  history: { maxLen: number } | null;
  log: Logger;
}

type BatchingCluster = Cluster & { walcastBatch(...args: string[]): Promise<number> };

/** Reply errors that are about where a slot lives or whether it is up: the call is retried. */
const TRANSIENT_REPLY = /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|BUSY|NOREPLICAS)\b/;

/** Most channel → slot entries remembered (broadcast topics are open-ended). */
const SLOT_CACHE_MAX = 50_000;

export class ClusterPublisher {
  private readonly cluster: BatchingCluster;
  private readonly batches = new Map<number, SlotBatch>();
  /** Where to trim each table's history, and the most changes in one pack (history-packs.ts). */
  private readonly cutoffs: HistoryCutoffs;
  private readonly packLimit: number;
  private readonly inFlight = new Set<number>();
  /** Slots with messages and no call in flight, sent at the end of the event-loop turn. */
  private readonly ready = new Set<number>();
  private flushScheduled = false;
  private readonly slotOf = new Map<string, number>();
  /** The master each slot's last successful call went to (to notice failovers). */
  private readonly masterOf: Array<string | undefined> = new Array<string | undefined>(HASH_SLOTS);
  /** The last history position each slot's master accepted. */
  private readonly acceptedLast: Array<string | undefined> = new Array<string | undefined>(HASH_SLOTS);
  private lastPosition: string | null = null;
  private isSeeded = false;
  private needsSeed = false;
  private pending = 0;
  private closed = false;

  constructor(private readonly opts: ClusterPublisherOptions) {
    opts.cluster.defineCommand('walcastBatch', { lua: CLUSTER_BATCH_SCRIPT });
    this.cutoffs = new HistoryCutoffs(opts.history?.maxLen ?? 1);
    this.packLimit = packLimit(opts.history?.maxLen ?? 1);
    this.cluster = opts.cluster as BatchingCluster;
    if (opts.history) {
      opts.cluster.on('+node', (node: { on(event: 'ready', cb: () => void): void }) => {
        let connections = 0;
        node.on('ready', () => {
          if (connections++ > 0 && this.isSeeded) this.needsSeed = true;
        });
      });
      opts.cluster.on('refresh', () => this.onTopology());
    }
  }

  /** Messages handed over and not yet accepted (or rejected). */
  get pendingCount(): number {
    return this.pending;
  }

  /** Resolves once the master of `channel`'s slot accepted it (and its history entry, if any). */
  publish(channel: string, message: string, history?: HistoryEntry): Promise<void> {
    if (this.closed) return Promise.reject(new Error('publisher is closed'));
    const slot = this.slotFor(channel);
    let batch = this.batches.get(slot);
    if (!batch) {
      batch = new SlotBatch(slot);
      this.batches.set(slot, batch);
    }
    this.pending++;
    const entry = this.opts.history ? history : undefined;
    if (entry) this.lastPosition = entry.position;
    return new Promise((resolve, reject) => {
      batch.add(channel, message, entry, {
        resolve: () => {
          this.pending--;
          resolve();
        },
        reject: (err) => {
          this.pending--;
          reject(err);
        },
      });
      if (!this.inFlight.has(slot)) this.markReady(slot);
    });
  }

  /** Rejects everything not yet accepted; later publishes reject. */
  close(): void {
    this.closed = true;
    const err = new Error('publisher is closed');
    for (const batch of this.batches.values()) batch.rejectAll(err);
  }

  private slotFor(channel: string): number {
    let slot = this.slotOf.get(channel);
    if (slot === undefined) {
      if (this.slotOf.size >= SLOT_CACHE_MAX) this.slotOf.clear();
      slot = hashSlot(channel);
      this.slotOf.set(channel, slot);
    }
    return slot;
  }

  private markReady(slot: number): void {
    this.ready.add(slot);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const slots = [...this.ready];
      this.ready.clear();
      for (const s of slots) this.send(s);
    });
  }

  private send(slot: number): void {
    const batch = this.batches.get(slot);
    if (!batch || batch.size === 0 || this.inFlight.has(slot) || this.closed) return;
    const master = this.cluster.slots[slot]?.[0];
    const known = this.masterOf[slot];
    const moved = known !== undefined && master !== known;
    const call = batch.take(this.cutoffs, this.packLimit, moved ? (this.acceptedLast[slot] ?? true) : false);
    if (call.firstPosition !== null && (!this.isSeeded || this.needsSeed)) {
      this.isSeeded = true;
      this.needsSeed = false;
      this.seedStarts(call.firstPosition);
    }
    this.inFlight.add(slot);
    this.attempt(slot, call, 0);
  }

  private attempt(slot: number, call: SlotCall, attempt: number): void {
    this.cluster.walcastBatch(...call.args).then(
      () => {
        this.masterOf[slot] = this.cluster.slots[slot]?.[0];
        if (call.lastPosition !== null) this.acceptedLast[slot] = call.lastPosition;
        for (const w of call.waiters) w.resolve();
        this.inFlight.delete(slot);
        if (this.batches.get(slot)?.size) this.markReady(slot);
        else this.batches.delete(slot);
      },
      (err: Error) => {
        if (this.closed) {
          for (const w of call.waiters) w.reject(new Error('publisher is closed'));
          return;
        }
        if (err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message)) {
          this.opts.log.warn({ err, code: 'BusUnavailable', slot }, 'redis refused a batch of publishes');
          for (const w of call.waiters) w.reject(err);
          this.inFlight.delete(slot);
          if (this.batches.get(slot)?.size) this.markReady(slot);
          return;
        }
        this.opts.log.debug({ err, slot, attempt }, 'a batch of publishes failed; retrying');
        setTimeout(() => this.attempt(slot, call, attempt + 1), jitteredBackoffMs(attempt, 50, 2000)).unref();
      },
    );
  }

  /** Sets every slot's history start that is missing (a quiet slot has no batch to set it). Best effort. */
  private seedStarts(position: string): void {
    setEverySlot(this.cluster, historyStartKeyForSlot, position, 'NX').catch((err: unknown) =>
      this.opts.log.debug({ err }, 'could not set history starts'),
    );
  }

  /**
   * A topology refresh: slots whose master changed get their history start overwritten, unless the
   * new master holds the last position the old one accepted.
   */
  private onTopology(): void {
    const position = this.lastPosition;
    if (position === null) return;
    const moved = new Set<number>();
    for (let slot = 0; slot < HASH_SLOTS; slot++) {
      const known = this.masterOf[slot];
      const now = this.cluster.slots[slot]?.[0];
      if (known !== undefined && now !== undefined && known !== now) {
        moved.add(slot);
        this.masterOf[slot] = now;
      }
    }
    if (moved.size === 0) return;
    this.opts.log.info({ slots: moved.size }, 'hash slots changed master; their history may start again now');
    const accepted = new Map([...moved].map((slot) => [slot, this.acceptedLast[slot] ?? '']));
    restartSlots(this.cluster, position, accepted).catch((err: unknown) =>
      this.opts.log.debug({ err }, 'could not restart history starts'),
    );
  }
}
