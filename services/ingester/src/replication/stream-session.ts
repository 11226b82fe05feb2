/**
 * One streaming session: a ChangeSource connected to the slot, whose messages are encoded and
 * published in WAL order, with positions confirmed as Redis accepts them.
 *
 * Lifecycle: `run()` resolves never; it rejects when the stream or a publish fails, after which the
 * ingester starts a new session (which resumes from the slot's confirmed position).
 *
 * Invariants:
 * - Messages are handled strictly in order. When a Relation names types the registry does not know,
 *   later messages queue (and reading pauses) until the catalog lookup finishes.
 * - I1 (see ConfirmingPublisher) for every transaction. An idle keepalive's position is confirmed
 *   only when no transaction is open, nothing queues and nothing is in flight, so the slot advances
 *   past WAL of unpublished tables without skipping anything.
 * - I2: a standby status update with the confirmed position goes out every `statusIntervalMs` and
 *   whenever the server asks, even while publishing is blocked (reading paused).
 * - Rows of `realtime.messages` are never published as table changes, whichever publication
 *   brought them: their INSERTs become broadcasts (changes/broadcast-encoder.ts) and everything
 *   else about them (updates, deletes, truncates) is skipped.
 */
import type { Bus } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import { LogThrottle } from '@walcast/logger';
import { BroadcastEncoder, isMessagesRelation, type DropReason } from '../changes/broadcast-encoder';
import { ChangeEncoder } from '../changes/change-encoder';
import type { InsertMessage, RelationMessage } from '../changes/pgoutput-decoder';
import type { TypeRegistry } from '../changes/type-registry';
import { ConfirmingPublisher, type PublishedKind } from '../publish/confirming-publisher';
import type { ChangeSource, WalMessage } from './change-source';
import { lsnToText, type Lsn } from './lsn';

export interface SessionOptions {
  source: ChangeSource;
  bus: Bus;
  registry: TypeRegistry;
  /** Learns the given type OIDs from the catalog into the registry. */
  loadTypes(oids: number[]): Promise<void>;
  /** Reads a table's primary key columns from the catalog. */
  loadPrimaryKey(relationOid: number): Promise<string[]>;
  instanceId: string;
  /** The slot's confirmed_flush_lsn when the session starts. */
  startLsn: Lsn;
  statusIntervalMs: number;
  maxInFlight: number;
  maxInFlightBytes: number;
  log: Logger;
  onStreaming(): void;
  onConfirmed(lsn: Lsn): void;
  /** A change or broadcast was accepted by Redis. */
  onPublished?(bytes: number, kind: PublishedKind): void;
  /** Largest payload of a message sent from SQL (MAX_BROADCAST_BYTES); larger ones are dropped. */
  maxBroadcastBytes: number;
  /** A message sent from SQL could not be broadcast (counted; the session logs it, throttled). */
  onBroadcastDropped?(reason: DropReason): void;
  /** Each message's size as it is handed to the bus (message length in UTF-16 units). */
  onPublishing?(bytes: number): void;
  /**
   * A transaction is confirmed (Redis accepted all of it): its commit time in ms since the epoch
   * and its end LSN.
   */
  onTransactionPublished?(commitTimeMs: number, endLsn: Lsn): void;
  /** Write changes into their tables' histories too (HISTORY). */
  history: boolean;
}

/** How long acknowledgements are coalesced: at most one status update per this many ms under load. */
const ACK_COALESCE_MS = 20;

export class StreamSession {
  private readonly encoder: ChangeEncoder;
  private readonly broadcasts: BroadcastEncoder;
  private readonly dropThrottle = new LogThrottle({ max: 5, windowMs: 60_000 });
  private readonly publisher: ConfirmingPublisher;
  private readonly queue: WalMessage[] = [];
  private blocked = false;
  private inTransaction = false;
  private commitLsn: Lsn = 0n;
  private failure: ((err: Error) => void) | null = null;
  private ackTimer: NodeJS.Timeout | null = null;
  private statusTimer: NodeJS.Timeout | null = null;
  private pressured = false;
  /** Held by flow control from outside (subscribers behind in Redis). */
  private held = false;
  /** Commit LSN and time of transactions not yet confirmed, oldest first (for latency metrics). */
  private readonly commitTimes: Array<{ lsn: Lsn; micros: bigint }> = [];

  constructor(private readonly opts: SessionOptions) {
    this.encoder = new ChangeEncoder(opts.registry);
    this.broadcasts = new BroadcastEncoder({ maxBytes: opts.maxBroadcastBytes });
    this.publisher = new ConfirmingPublisher({
      bus: opts.bus,
      source: opts.instanceId,
      maxInFlight: opts.maxInFlight,
      maxInFlightBytes: opts.maxInFlightBytes,
      onConfirm: (lsn) => {
        this.reportPublished(lsn);
        this.scheduleAck();
      },
      onPressure: (paused) => this.setPressure(paused),
      onFailure: (err) => this.fail(err),
      startLsn: opts.startLsn,
      history: opts.history,
      ...(opts.onPublished ? { onPublished: opts.onPublished } : {}),
      ...(opts.onPublishing ? { onIssued: opts.onPublishing } : {}),
    });
  }

  async run(): Promise<never> {
    const failed = new Promise<never>((_, reject) => {
      this.failure = reject;
    });
    this.statusTimer = setInterval(() => this.sendStatus(), this.opts.statusIntervalMs);
    try {
      const streaming = this.opts.source.run({
        onStart: () => this.opts.onStreaming(),
        onMessage: (msg) => this.onMessage(msg),
        onKeepalive: (walEnd, shouldRespond) => this.onKeepalive(walEnd, shouldRespond),
      });
      await Promise.race([streaming, failed]);
      throw new Error('replication stream ended');
    } finally {
      this.close();
      await this.opts.source.stop().catch(() => undefined);
    }
  }

  /** Bytes published and not yet answered by Redis. */
  get inFlightBytes(): number {
    return this.publisher.inFlightBytes;
  }

  /**
   * Graceful end: stop reading, give in-flight publishes up to `graceMs` to land, send the final
   * confirmed position, then close the stream (run() then rejects, which the caller expects).
   */
  async stop(graceMs = 5000): Promise<void> {
    this.opts.source.pause();
    const deadline = Date.now() + graceMs;
    while (this.publisher.inFlight > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.sendStatus();
    await this.opts.source.stop();
  }

  private onMessage(msg: WalMessage): void {
    if (this.blocked) {
      this.queue.push(msg);
      return;
    }
    this.process(msg);
  }

  private process(msg: WalMessage): void {
    switch (msg.tag) {
      case 'begin':
        this.inTransaction = true;
        this.commitLsn = msg.finalLsn;
        this.encoder.begin(msg);
        return;
      case 'relation':
        this.learnRelation(msg);
        return;
      case 'insert':
        if (isMessagesRelation(msg.relation)) this.broadcast(msg);
        else this.publisher.publish(this.encoder.encode(msg), this.commitLsn);
        return;
      case 'update':
      case 'delete':
        if (!isMessagesRelation(msg.relation))
          this.publisher.publish(this.encoder.encode(msg), this.commitLsn);
        return;
      case 'truncate': {
        const relations = msg.relations.filter((r) => !isMessagesRelation(r));
        if (relations.length === 0) return;
        for (const change of this.encoder.encodeTruncate({ ...msg, relations }))
          this.publisher.publish(change, this.commitLsn);
        return;
      }
      case 'commit':
        this.inTransaction = false;
        if (msg.endLsn > 0n) {
          if (this.opts.onTransactionPublished)
            this.commitTimes.push({ lsn: msg.endLsn, micros: msg.commitTime });
          this.publisher.commit(msg.endLsn);
        }
        return;
      default:
        return; // type, origin and logical messages carry nothing to publish
    }
  }

  private broadcast(msg: InsertMessage): void {
    // Every row takes a position, sent or not, so that the same WAL always gives the same positions.
    const stamp = this.encoder.positions.next();
    const result = this.broadcasts.encode(msg);
    if (result.kind === 'broadcast') {
      this.publisher.publishBroadcast(result.broadcast, stamp);
    } else if (result.kind === 'dropped') {
      this.opts.onBroadcastDropped?.(result.reason);
      this.dropThrottle.warn(
        this.opts.log,
        { code: 'BroadcastDropped', reason: result.reason, detail: result.detail, id: result.id },
        'message sent from the database dropped',
      );
    }
  }

  /**
   * Blocks the stream while the relation's primary key, and any column types the registry does
   * not know, are read from the catalog (once per Relation message: at the first change of a table
   * in a session and after each ALTER TABLE).
   */
  private learnRelation(relation: RelationMessage): void {
    const unknown = this.encoder.unknownTypeOids(relation);
    this.blocked = true;
    this.opts.source.pause();
    Promise.all([
      unknown.length > 0 ? this.opts.loadTypes(unknown) : undefined,
      this.opts
        .loadPrimaryKey(relation.relationOid)
        .then((pk) => this.encoder.setPrimaryKey(relation.relationOid, pk)),
    ]).then(
      () => this.unblock(),
      (err: unknown) =>
        this.fail(
          new Error(`could not read ${relation.schema}.${relation.name} from the catalog: ${String(err)}`),
        ),
    );
  }

  private unblock(): void {
    this.blocked = false;
    while (this.queue.length > 0 && !this.blocked) this.process(this.queue.shift()!);
    this.resumeIfFree();
  }

  private onKeepalive(walEnd: Lsn, shouldRespond: boolean): void {
    if (!this.inTransaction && !this.blocked && this.queue.length === 0) this.publisher.advanceIdle(walEnd);
    if (shouldRespond) this.sendStatus();
  }

  private reportPublished(lsn: Lsn): void {
    while (this.commitTimes.length > 0 && this.commitTimes[0]!.lsn <= lsn) {
      const { micros, lsn: endLsn } = this.commitTimes.shift()!;
      this.opts.onTransactionPublished?.(Number(micros / 1000n), endLsn);
    }
  }

  private setPressure(paused: boolean): void {
    this.pressured = paused;
    if (paused) {
      this.opts.log.debug({ inFlight: this.publisher.inFlight }, 'publishing backlog; pausing WAL reads');
      this.opts.source.pause();
    } else {
      this.resumeIfFree();
    }
  }

  /**
   * Holds (or releases) WAL reading for a reason outside the session: Redis subscribers that fall
   * behind. Keepalives are still answered while held (I2).
   */
  hold(held: boolean): void {
    if (held === this.held) return;
    this.held = held;
    if (held) this.opts.source.pause();
    else this.resumeIfFree();
  }

  /** Resumes WAL reading unless a catalog lookup, the publish backlog or flow control holds it. */
  private resumeIfFree(): void {
    if (!this.blocked && !this.pressured && !this.held) this.opts.source.resume();
  }

  private scheduleAck(): void {
    this.ackTimer ??= setTimeout(() => {
      this.ackTimer = null;
      this.sendStatus();
    }, ACK_COALESCE_MS);
  }

  private sendStatus(): void {
    const lsn = this.publisher.confirmed;
    if (lsn === 0n) return;
    this.opts.source.acknowledge(lsn);
    this.opts.onConfirmed(lsn);
    this.opts.log.trace({ lsn: lsnToText(lsn) }, 'confirmed');
  }

  private fail(err: Error): void {
    this.failure?.(err);
  }

  private close(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.ackTimer = null;
    this.statusTimer = null;
  }
}
