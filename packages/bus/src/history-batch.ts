/**
 * Collects the history writes of one event-loop turn into one APPEND_SCRIPT call (history-scripts.ts):
 * one command, one reply and one Lua call for a whole batch instead of one per change. Each write's
 * promise settles with the batch's reply.
 */
import { HISTORY_START_KEY, historyKeyFor } from '@walcast/protocol';

/** Where a published change goes in its table's history. */
export interface HistoryEntry {
  /** The change's position (its text) and the same as a stream entry id. */
  position: string;
  streamId: string;
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/** Most changes in one batch, and most bytes of messages (Redis reads a command whole). */
const MAX_BATCH = 1000;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

export class HistoryBatch {
  private keys: string[] = [];
  private args: string[] = [];
  private waiters: Waiter[] = [];
  private bytes = 0;
  private firstPosition = '';
  private lastPosition = '';

  get size(): number {
    return this.waiters.length;
  }

  /** Adds a change; returns true when the batch is full and must be sent now. */
  add(topic: string, message: string, entry: HistoryEntry, waiter: Waiter): boolean {
    if (this.waiters.length === 0) this.firstPosition = entry.position;
    this.lastPosition = entry.position;
    this.keys.push(historyKeyFor(topic));
    this.args.push(topic, entry.streamId, message);
    this.waiters.push(waiter);
    this.bytes += message.length;
    return this.waiters.length >= MAX_BATCH || this.bytes >= MAX_BATCH_BYTES;
  }

  /** The EVALSHA arguments after the script's sha, and the writes to settle with its reply; empties the batch. */
  take(maxLen: number): { args: string[]; waiters: Waiter[] } {
    const keys = [...this.keys, HISTORY_START_KEY];
    const args = [
      String(keys.length),
      ...keys,
      String(maxLen),
      this.firstPosition,
      this.lastPosition,
      ...this.args,
    ];
    const { waiters } = this;
    this.keys = [];
    this.args = [];
    this.waiters = [];
    this.bytes = 0;
    return { args, waiters };
  }
}
