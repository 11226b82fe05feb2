/**
 * Collects the history writes of one event-loop turn into one APPEND_SCRIPT call (history-scripts.ts):
 * one command, one reply and one Lua call for a whole batch instead of one per change. Each write's
 * promise settles with the batch's reply. A table's changes in the batch go into packs of at most
 * {@link packLimit} changes, one stream entry each (history-packs.ts).
 *
 * The script's arguments are encoded as RESP as changes arrive (resp-buffer.ts): the stream keys
 * (each once) and the per-change arguments in two buffers, since all keys come before all
 * arguments; the packs' own arguments, known once the batch is complete, are encoded by take().
 */
import { HISTORY_START_KEY, historyKeyFor } from '@walcast/protocol';
import { HistoryCutoffs, packLimit } from './history-packs';
import { RespBuffer, encodeBulk } from './resp-buffer';

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

/** The encoded arguments of one batch's EVALSHA; valid until the batch is added to again. */
export interface EncodedBatch {
  /** Arguments of the command, the script's sha included. */
  count: number;
  /** Their RESP bulk strings, to be concatenated. */
  parts: Buffer[];
}

/** Most changes in one batch, and most bytes of messages (Redis reads a command whole). */
const MAX_BATCH = 1000;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** A topic's history key and the topic itself, as encoded bulk strings. */
interface TopicBulks {
  key: Buffer;
  topic: Buffer;
}

/** A topic in the current batch: its stream's index in KEYS and its open pack. */
interface BatchTopic {
  keyIndex: number;
  pack: Pack;
}

interface Pack {
  /** Its number in the batch, from 1. */
  number: number;
  topic: string;
  keyIndex: number;
  /** Its last change's stream id, and how many changes it holds. */
  lastId: string;
  count: number;
}

export class HistoryBatch {
  private readonly keys = new RespBuffer();
  private readonly args = new RespBuffer();
  private waiters: Waiter[] = [];
  private bytes = 0;
  private firstPosition = '';
  private lastPosition = '';
  private readonly bulks = new Map<string, TopicBulks>();
  private readonly inBatch = new Map<string, BatchTopic>();
  private packs: Pack[] = [];
  /** The encoded pack numbers 1, 2, … (index 0 unused). */
  private readonly packBulks: Buffer[] = [];
  private readonly startKey = encodeBulk(HISTORY_START_KEY);
  private readonly limit: number;
  private readonly cutoffs: HistoryCutoffs;

  /** `maxLen`: the most changes a stream keeps (HISTORY_MAX_LEN). */
  constructor(
    private readonly sha: string,
    maxLen: number,
  ) {
    this.limit = packLimit(maxLen);
    this.cutoffs = new HistoryCutoffs(maxLen);
  }

  get size(): number {
    return this.waiters.length;
  }

  /** Adds a change; returns true when the batch is full and must be sent now. */
  add(topic: string, message: string, entry: HistoryEntry, waiter: Waiter): boolean {
    if (this.waiters.length === 0) this.firstPosition = entry.position;
    this.lastPosition = entry.position;
    let bulks = this.bulks.get(topic);
    if (bulks === undefined) {
      bulks = { key: encodeBulk(historyKeyFor(topic)), topic: encodeBulk(topic) };
      this.bulks.set(topic, bulks);
    }
    let current = this.inBatch.get(topic);
    if (current === undefined) {
      this.keys.encoded(bulks.key, 1);
      const keyIndex = this.keys.count;
      current = { keyIndex, pack: this.openPack(topic, keyIndex) };
      this.inBatch.set(topic, current);
    } else if (current.pack.count >= this.limit) {
      current.pack = this.openPack(topic, current.keyIndex);
    }
    const { pack } = current;
    pack.lastId = entry.streamId;
    pack.count++;
    this.args.encoded(this.packBulks[pack.number]!, 1);
    this.args.bulk(entry.streamId);
    this.args.bulk(message);
    this.waiters.push(waiter);
    this.bytes += message.length;
    return this.waiters.length >= MAX_BATCH || this.bytes >= MAX_BATCH_BYTES;
  }

  /**
   * The batch's EVALSHA (its parts stay valid until the next {@link add}) and the writes to settle
   * with its reply; empties the batch.
   */
  take(): { command: EncodedBatch; waiters: Waiter[] } {
    const head = new RespBuffer(256);
    head.bulk('EVALSHA');
    head.bulk(this.sha);
    head.bulk(String(this.keys.count + 1));
    const middle = new RespBuffer(256 + this.packs.length * 64);
    middle.encoded(this.startKey, 1);
    middle.bulk(this.firstPosition);
    middle.bulk(this.lastPosition);
    middle.bulk(String(this.packs.length));
    for (const pack of this.packs) {
      middle.bulk(String(pack.keyIndex));
      middle.encoded(this.bulks.get(pack.topic)!.topic, 1);
      middle.bulk(pack.lastId);
      middle.bulk(this.cutoffs.written(pack.topic, pack.lastId, pack.count));
    }
    const command: EncodedBatch = {
      count: head.count + this.keys.count + middle.count + this.args.count,
      parts: [head.view(), this.keys.view(), middle.view(), this.args.view()],
    };
    const { waiters } = this;
    this.keys.clear();
    this.args.clear();
    this.inBatch.clear();
    this.packs = [];
    this.waiters = [];
    this.bytes = 0;
    return { command, waiters };
  }

  private openPack(topic: string, keyIndex: number): Pack {
    const number = this.packs.length + 1;
    const pack: Pack = { number, topic, keyIndex, lastId: '', count: 0 };
    this.packs.push(pack);
    if (this.packBulks[number] === undefined) this.packBulks[number] = encodeBulk(String(number));
    return pack;
  }
}
