/**
 * The messages waiting for one hash slot of a Redis Cluster, sent as one CLUSTER_BATCH_SCRIPT call
 * (cluster-scripts.ts): the cluster form of HistoryBatch. Each message's promise settles with the
 * reply of the call that carried it.
 */
import {
  historyKeyFor,
  historyLastKeyForSlot,
  historyStartKeyForSlot,
  historyTopicsKeyForSlot,
  positionChannelForSlot,
} from '@walcast/protocol';
import type { HistoryEntry } from './history-batch';
import type { HistoryCutoffs } from './history-packs';

export interface BatchWaiter {
  resolve(): void;
  reject(err: Error): void;
}

interface Pending {
  channel: string;
  message: string;
  history: HistoryEntry | undefined;
  waiter: BatchWaiter;
}

/** A table's changes in one call, one stream entry (history-packs.ts). */
interface Pack {
  number: number;
  topic: string;
  keyIndex: number;
  lastId: string;
  count: number;
}

/** Most messages in one call, and most bytes of messages (Redis reads a command whole). */
export const MAX_SLOT_BATCH = 1000;
export const MAX_SLOT_BATCH_BYTES = 4 * 1024 * 1024;

/** One call's worth of a slot's messages: EVALSHA arguments after the sha, and whom to settle. */
export interface SlotCall {
  /** KEYS count then KEYS then ARGV, as EVALSHA takes them after the sha. */
  args: string[];
  waiters: BatchWaiter[];
  /** The first and last history positions the call carries, or null. */
  firstPosition: string | null;
  lastPosition: string | null;
}

export class SlotBatch {
  private readonly pending: Pending[] = [];
  private head = 0;

  constructor(readonly slot: number) {}

  get size(): number {
    return this.pending.length - this.head;
  }

  add(channel: string, message: string, history: HistoryEntry | undefined, waiter: BatchWaiter): void {
    this.pending.push({ channel, message, history, waiter });
  }

  /**
   * Takes up to MAX_SLOT_BATCH messages (and MAX_SLOT_BATCH_BYTES) off the front as one call, each
   * table's changes in packs of at most `packLimit` (history-packs.ts, trimmed as `cutoffs` says);
   * `restart` marks the call that follows a change of the slot's master: true to overwrite the
   * slot's history start, or the last position the old master accepted for the slot (overwritten
   * unless the new master holds it; cluster-scripts.ts).
   */
  take(cutoffs: HistoryCutoffs, packLimit: number, restart: string | boolean): SlotCall {
    const keys = [
      historyStartKeyForSlot(this.slot),
      historyTopicsKeyForSlot(this.slot),
      historyLastKeyForSlot(this.slot),
    ];
    const open = new Map<string, Pack>();
    const packs: Pack[] = [];
    const perMessage: string[] = [];
    const waiters: BatchWaiter[] = [];
    let first: string | null = null;
    let last: string | null = null;
    let bytes = 0;
    while (
      this.head < this.pending.length &&
      waiters.length < MAX_SLOT_BATCH &&
      bytes < MAX_SLOT_BATCH_BYTES
    ) {
      const p = this.pending[this.head]!;
      this.pending[this.head++] = undefined as unknown as Pending;
      let number = 0;
      if (p.history) {
        let pack = open.get(p.channel);
        if (!pack || pack.count >= packLimit) {
          let keyIndex = pack?.keyIndex;
          if (keyIndex === undefined) {
            keys.push(historyKeyFor(p.channel));
            keyIndex = keys.length;
          }
          pack = { number: packs.length + 1, topic: p.channel, keyIndex, lastId: '', count: 0 };
          packs.push(pack);
          open.set(p.channel, pack);
        }
        pack.lastId = p.history.streamId;
        pack.count++;
        number = pack.number;
        first ??= p.history.position;
        last = p.history.position;
      }
      perMessage.push(p.channel, String(number), p.history?.streamId ?? '', p.message);
      waiters.push(p.waiter);
      bytes += p.message.length;
    }
    if (this.head === this.pending.length) {
      this.pending.length = 0;
      this.head = 0;
    }
    const args = [
      String(keys.length),
      ...keys,
      positionChannelForSlot(this.slot),
      first ?? '',
      last ?? '',
      restart === true ? '1' : restart === false ? '0' : restart,
      String(packs.length),
    ];
    for (const pack of packs) {
      args.push(
        String(pack.keyIndex),
        pack.topic,
        pack.lastId,
        cutoffs.written(pack.topic, pack.lastId, pack.count),
      );
    }
    for (const a of perMessage) args.push(a);
    return { args, waiters, firstPosition: first, lastPosition: last };
  }

  /** Rejects everything waiting (the publisher was closed). */
  rejectAll(err: Error): void {
    for (let i = this.head; i < this.pending.length; i++) this.pending[i]!.waiter.reject(err);
    this.pending.length = 0;
    this.head = 0;
  }
}
