/**
 * Collects the history writes of one event-loop turn into one MULTI/EXEC transaction: one write,
 * one round trip and one atomic step in Redis for a whole batch instead of one per change, with no
 * Lua (a script's arguments each become a Lua string, hashed byte by byte, and its loop runs in the
 * Lua VM: most of what history cost Redis; docs/performance.md). Each write's promise settles with
 * EXEC's reply. A table's changes in the batch go into packs of at most {@link packLimit} changes,
 * one stream entry each (history-packs.ts).
 *
 * The transaction, in order: one PUBLISH per change (its table's topic, its message), one XADD per
 * pack (its entry id is its last change's stream id; its fields, per change, the stream id and the
 * message; `MINID ~` when the stream may be trimmed, history-packs.ts), SET the history start NX
 * (the first batch a Redis ever receives sets it), PUBLISH the batch's last position on
 * POSITION_CHANNEL. Nobody sees a stream during a transaction, so publishing first is safe: a
 * subscriber that missed the publish finds the change in the history, and one that reads the
 * history before the publish receives it afterwards.
 *
 * A pack whose id is not above its stream's last one holds changes published again after an
 * ingester restart: its XADD fails alone inside EXEC (the other commands run), so it is not added
 * twice but its changes are still published (gateways drop what they already delivered, and the
 * publisher's sequence numbers stay gap-free); a pack that repeats only some changes is added, and
 * readers skip the repeated ones.
 *
 * The commands are encoded as RESP as changes arrive (resp-buffer.ts): the PUBLISHes in one buffer,
 * each pack's fields in one of their own (each message encoded once, its bytes copied into its
 * pack); the XADDs' heads, known once the batch is complete, are encoded by take().
 */
import { HISTORY_START_KEY, POSITION_CHANNEL, historyKeyFor } from '@walcast/protocol';
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

/** One batch's transaction; valid until the batch is added to again. */
export interface EncodedBatch {
  /** Commands between MULTI and EXEC. */
  commands: number;
  /** Their RESP, to be concatenated. */
  parts: Buffer[];
}

/** Most changes in one batch, and most bytes of messages (Redis reads a command whole). */
const MAX_BATCH = 1000;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;

/** Packs' field buffers kept for later batches (most batches have a few tables). */
const MAX_SPARE_FIELDS = 64;

/** A topic's encoded history key and the head of a PUBLISH to it (all but the message). */
interface TopicBulks {
  key: Buffer;
  publish: Buffer;
}

interface Pack {
  topic: string;
  /** Its last change's stream id, and how many changes it holds. */
  lastId: string;
  count: number;
  /** Its fields: per change, the stream id and the message. */
  fields: RespBuffer;
}

const XADD = encodeBulk('XADD');
const MINID = Buffer.concat([encodeBulk('MINID'), encodeBulk('~')]);

export class HistoryBatch {
  private readonly publishes = new RespBuffer();
  private waiters: Waiter[] = [];
  private bytes = 0;
  private firstPosition = '';
  private lastPosition = '';
  private readonly bulks = new Map<string, TopicBulks>();
  /** Each topic's open pack in the current batch. */
  private readonly open = new Map<string, Pack>();
  private packs: Pack[] = [];
  /** The fields buffers of earlier batches' packs, kept for the next ones. */
  private readonly spareFields: RespBuffer[] = [];
  private readonly tail = new RespBuffer(4096);
  private readonly limit: number;
  private readonly cutoffs: HistoryCutoffs;

  /** `maxLen`: the most changes a stream keeps (HISTORY_MAX_LEN). */
  constructor(maxLen: number) {
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
      bulks = {
        key: encodeBulk(historyKeyFor(topic)),
        publish: Buffer.concat([Buffer.from('*3\r\n'), encodeBulk('PUBLISH'), encodeBulk(topic)]),
      };
      this.bulks.set(topic, bulks);
    }
    let pack = this.open.get(topic);
    if (pack === undefined || pack.count >= this.limit) {
      const fields = this.spareFields.pop() ?? new RespBuffer(4096);
      pack = { topic, lastId: '', count: 0, fields };
      this.packs.push(pack);
      this.open.set(topic, pack);
    }
    pack.lastId = entry.streamId;
    pack.count++;
    this.publishes.encoded(bulks.publish, 0);
    const at = this.publishes.length;
    this.publishes.bulk(message);
    pack.fields.bulk(entry.streamId);
    pack.fields.encoded(this.publishes.view().subarray(at), 1);
    this.waiters.push(waiter);
    this.bytes += message.length;
    return this.waiters.length >= MAX_BATCH || this.bytes >= MAX_BATCH_BYTES;
  }

  /**
   * The batch's transaction (its parts stay valid until the next {@link add}) and the writes to
   * settle with EXEC's reply; empties the batch.
   */
  take(): { command: EncodedBatch; waiters: Waiter[] } {
    const { tail } = this;
    tail.clear();
    // The XADDs' heads, then SET and the announcement, in `tail`; viewed once all are written.
    const heads: Array<[number, number]> = [];
    for (const pack of this.packs) {
      const cut = this.cutoffs.written(pack.topic, pack.lastId, pack.count);
      const from = tail.length;
      tail.command(3 + (cut === '' ? 0 : 3) + pack.fields.count);
      tail.encoded(XADD, 1);
      tail.encoded(this.bulks.get(pack.topic)!.key, 1);
      if (cut !== '') {
        tail.encoded(MINID, 2);
        tail.bulk(cut);
      }
      tail.bulk(pack.lastId);
      heads.push([from, tail.length]);
    }
    const endsFrom = tail.length;
    tail.command(4);
    tail.bulk('SET');
    tail.bulk(HISTORY_START_KEY);
    tail.bulk(this.firstPosition);
    tail.bulk('NX');
    tail.command(3);
    tail.bulk('PUBLISH');
    tail.bulk(POSITION_CHANNEL);
    tail.bulk(this.lastPosition);
    const all = tail.view();
    const parts = [this.publishes.view()];
    this.packs.forEach((pack, i) => {
      const [from, to] = heads[i]!;
      parts.push(all.subarray(from, to), pack.fields.view());
    });
    parts.push(all.subarray(endsFrom));
    const command: EncodedBatch = { commands: this.waiters.length + this.packs.length + 2, parts };
    const { waiters } = this;
    this.publishes.clear();
    // Cleared buffers keep their bytes until written again: the parts stay valid until add().
    for (const pack of this.packs) {
      pack.fields.clear();
      if (this.spareFields.length < MAX_SPARE_FIELDS) this.spareFields.push(pack.fields);
    }
    this.open.clear();
    this.packs = [];
    this.waiters = [];
    this.bytes = 0;
    return { command, waiters };
  }
}
