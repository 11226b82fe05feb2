/**
 * Publishes encoded changes to the bus and decides which WAL position may be confirmed.
 *
 * Invariants:
 * - I1: a commit LSN is confirmed only after every PUBLISH issued before its commit resolved
 *   (tracked by publish sequence number, so this holds even if resolutions came out of order).
 * - Confirmed LSNs only move forward.
 * - In flight (issued, not yet resolved) stays under `maxInFlight` messages and `maxInFlightBytes`:
 *   beyond either, `onPressure(true)` asks the caller to stop reading WAL; `onPressure(false)` once
 *   in flight has drained to half. Memory is bounded whatever Redis does.
 * - A rejected publish is fatal for the stream (`onFailure`): nothing after it may be confirmed,
 *   and the caller restarts from the last confirmed position (at-least-once).
 * - With `history`, a change enters its table's history in the same step as it is published
 *   (RedisBus), so "Redis accepted it" covers both, and so does a confirmation.
 */
import { encodeBroadcastMessage, encodeBusMessage, type BusHeader } from '@walcast/protocol';
import type { Bus } from '@walcast/bus';
import type { EncodedBroadcast } from '../changes/broadcast-encoder';
import type { EncodedChange } from '../changes/change-encoder';
import type { Stamp } from '../changes/position-clock';
import type { Lsn } from '../replication/lsn';
import { lsnToText } from '../replication/lsn';

export interface PublisherOptions {
  bus: Bus;
  /** Identifies this ingester process in every envelope. */
  source: string;
  maxInFlight: number;
  maxInFlightBytes: number;
  /** Called with each newly confirmable LSN (already coalesced by the caller if it wishes). */
  onConfirm(lsn: Lsn): void;
  onPressure(paused: boolean): void;
  onFailure(err: Error): void;
  /** Told the size of each message as it is handed to the bus (flow control spends a budget). */
  onIssued?(bytes: number): void;
  /** Observes each published message once Redis accepted it (metrics). */
  onPublished?(bytes: number, kind: PublishedKind): void;
  /** The slot's confirmed position when the session started: reported until something newer is. */
  startLsn: Lsn;
  /** Write every change into its table's history too (HISTORY). */
  history?: boolean;
}

/** A table change (change envelope) or a message sent from SQL (broadcast envelope). */
export type PublishedKind = 'change' | 'broadcast';

export class ConfirmingPublisher {
  private issued = 0;
  private contiguousDone = 0;
  private readonly doneOutOfOrder = new Set<number>();
  private readonly pendingCommits: Array<{ lsn: Lsn; upTo: number }> = [];
  private inFlightBytesCount = 0;
  private paused = false;
  private failed = false;
  private confirmedLsn: Lsn = 0n;
  /** Per-topic sequence numbers (gap detection at the gateways). */
  private readonly seqByTopic = new Map<string, number>();
  /** The text of the last commit LSN published (one transaction's changes share it). */
  private lsn: Lsn = -1n;
  private lsnText = '';

  constructor(private readonly opts: PublisherOptions) {
    this.confirmedLsn = opts.startLsn;
  }

  get inFlight(): number {
    return this.issued - this.contiguousDone;
  }

  /** Bytes issued and not yet answered by Redis. */
  get inFlightBytes(): number {
    return this.inFlightBytesCount;
  }

  get confirmed(): Lsn {
    return this.confirmedLsn;
  }

  /** True when nothing is in flight and no commit waits: the stream position itself may be confirmed. */
  get isIdle(): boolean {
    return this.issued === this.contiguousDone && this.pendingCommits.length === 0;
  }

  publish(change: EncodedChange, commitLsn: Lsn): void {
    const seq = (this.seqByTopic.get(change.topic) ?? 0) + 1;
    this.seqByTopic.set(change.topic, seq);
    if (commitLsn !== this.lsn) {
      this.lsn = commitLsn;
      this.lsnText = lsnToText(commitLsn);
    }
    const header: BusHeader = {
      v: 1,
      src: this.opts.source,
      seq,
      lsn: this.lsnText,
      type: change.type,
      // only read by encodeBusMessage, never kept or changed: no copy
      pk: change.pk as string[],
      ts: Date.now(),
      pos: change.stamp.position,
    };
    this.send(
      change.topic,
      encodeBusMessage(header, change.json),
      'change',
      this.opts.history ? change.stamp : undefined,
    );
  }

  /**
   * Publishes a message sent from SQL on its broadcast topic. It is part of its transaction like a
   * change: the commit is confirmed only once Redis accepted it (at least once across crashes).
   */
  publishBroadcast(broadcast: EncodedBroadcast, stamp: Stamp): void {
    const message = encodeBroadcastMessage(
      {
        v: 1,
        src: this.opts.source,
        shape: 'user',
        event: broadcast.event,
        enc: broadcast.enc,
        meta:
          broadcast.id !== null
            ? { id: broadcast.id, position: stamp.position }
            : { position: stamp.position },
        ts: Date.now(),
      },
      broadcast.payloadText,
    );
    this.send(broadcast.topic, message, 'broadcast');
  }

  private send(topic: string, message: string, kind: PublishedKind, history?: Stamp): void {
    const id = ++this.issued;
    const bytes = message.length;
    this.inFlightBytesCount += bytes;
    this.opts.onIssued?.(bytes);
    this.opts.bus.publish(topic, message, history).then(
      () => this.settle(id, bytes, kind),
      (err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))),
    );
    if (
      !this.paused &&
      (this.inFlight >= this.opts.maxInFlight || this.inFlightBytesCount >= this.opts.maxInFlightBytes)
    ) {
      this.paused = true;
      this.opts.onPressure(true);
    }
  }

  /** Marks a transaction's end: `lsn` becomes confirmable once everything published so far resolved. */
  commit(lsn: Lsn): void {
    if (this.issued === this.contiguousDone && this.pendingCommits.length === 0) this.confirm(lsn);
    else this.pendingCommits.push({ lsn, upTo: this.issued });
  }

  /** Confirms a position with no data behind it (an idle keepalive); only valid when {@link isIdle}. */
  advanceIdle(lsn: Lsn): void {
    if (this.isIdle) this.confirm(lsn);
  }

  private settle(id: number, bytes: number, kind: PublishedKind): void {
    if (this.failed) return;
    this.inFlightBytesCount -= bytes;
    this.opts.onPublished?.(bytes, kind);
    if (id === this.contiguousDone + 1) {
      this.contiguousDone = id;
      while (this.doneOutOfOrder.delete(this.contiguousDone + 1)) this.contiguousDone++;
    } else {
      this.doneOutOfOrder.add(id);
    }
    while (this.pendingCommits.length > 0 && this.pendingCommits[0]!.upTo <= this.contiguousDone) {
      this.confirm(this.pendingCommits.shift()!.lsn);
    }
    if (
      this.paused &&
      this.inFlight <= this.opts.maxInFlight / 2 &&
      this.inFlightBytesCount <= this.opts.maxInFlightBytes / 2
    ) {
      this.paused = false;
      this.opts.onPressure(false);
    }
  }

  private confirm(lsn: Lsn): void {
    if (lsn <= this.confirmedLsn) return;
    this.confirmedLsn = lsn;
    this.opts.onConfirm(lsn);
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.pendingCommits.length = 0;
    this.opts.onFailure(err);
  }
}
