/**
 * A delivery group: the sockets that receive byte-identical frames for a change (same channel
 * topic, same subscription, same codec). A change is matched and encoded once per group and codec,
 * then handed to uWS topic publishing, which fans it out in C++ (invariant I4: never once per socket).
 */
import {
  v1Codec,
  v2Codec,
  type BusHeader,
  type ChangeColumn,
  type PhoenixCodec,
  type ProtocolVersion,
  type Row,
} from '@walcast/protocol';
import type { RowFilter } from '../filters/row-filter';
import type { PendingView } from '../rls/row-authorizer';
import type { BusEntry } from './bus-subscriptions';
import type { GroupRowAccess } from './group-row-access';

/**
 * The row a filter is evaluated on (docs/protocol.md L3, M3): `old_record` for a DELETE (the row
 * is gone), `record` otherwise. Parses the event.
 */
export function rowToFilter(change: IncomingChange): Row | undefined {
  const parsed = change.parsed();
  return change.header.type === 'DELETE' ? parsed.old_record : parsed.record;
}

/** The type name of column `name` in the change's `columns` (filters compare by type). */
export function columnTypeOf(change: IncomingChange, name: string): string | undefined {
  return change.parsed().columns?.find((c) => c.name === name)?.type;
}

/** Whether `filter` matches the change's row to filter on. */
export function matchesFilter(filter: RowFilter, change: IncomingChange): boolean {
  return filter.matches(rowToFilter(change), (name) => columnTypeOf(change, name));
}

/**
 * A member socket as a group sees it: only its codec matters here. The gateway's sockets (uWS
 * websockets, ws/socket-data.ts) carry more; the channel layer imports neither uWS nor the
 * websocket layer, so it can be tested with any object of this shape.
 */
export interface MemberSocket {
  getUserData(): { readonly codec: PhoenixCodec };
}

/** The parts of a change event filters need, parsed at most once per bus message. */
export interface ParsedChange {
  type: string;
  columns?: ChangeColumn[];
  record?: Row;
  old_record?: Row;
}

/** One bus message as the fan-out sees it. */
export interface IncomingChange {
  header: BusHeader;
  eventJson: string;
  /** From the Redis topic the message came on. */
  schema: string;
  table: string;
  /** Parses the event on first call and caches it; throws if the JSON is invalid. */
  parsed(): ParsedChange;
  /** What each identity may see of it (row authorization), computed once per message. */
  views?: Map<string, PendingView>;
}

/**
 * How frames leave: `publish` hands one frame to uWS topic fan-out (C++, corked per socket);
 * `sendLarge` sends a frame too large for one websocket frame to each socket in fragments
 * (realtime-js 1.x's websocket client refuses single frames over 1 MiB but accepts fragmented
 * messages up to 8 MiB).
 */
export interface Fanout {
  publish(uwsTopic: string, frame: string): void;
  sendLarge(sockets: Iterable<MemberSocket>, frame: string): void;
}

/** Frames longer than this (in UTF-16 units, so at most 3× the bytes) go through `sendLarge`. */
export const LARGE_FRAME_CHARS = 256 * 1024;

export abstract class DeliveryGroup {
  /** Member sockets per protocol version. */
  private readonly members: Record<ProtocolVersion, Set<MemberSocket>> = {
    '1.0.0': new Set(),
    '2.0.0': new Set(),
  };
  /** The channel topic its members joined. */
  abstract readonly topic: string;
  /** With ROW_AUTHORIZATION=postgres: the identity its members read as, and its ordered queue. */
  rowAccess: GroupRowAccess | null = null;

  constructor(
    /** Unique among live groups. */
    readonly key: string,
    /** The bus subscriptions feeding this group (one per distinct table, schema or `*`). */
    readonly busEntries: readonly BusEntry[],
  ) {}

  /** Runs `cb` once every bus subscription of the group is live; returns a canceller. */
  whenLive(cb: () => void): () => void {
    let pending = this.busEntries.length;
    if (pending === 0) {
      cb();
      return () => undefined;
    }
    const cancels = this.busEntries.map((entry) =>
      entry.whenLive(() => {
        if (--pending === 0) cb();
      }),
    );
    return () => cancels.forEach((cancel) => cancel());
  }

  get size(): number {
    return this.members['1.0.0'].size + this.members['2.0.0'].size;
  }

  /** The uWS topic a socket of this codec subscribes to. */
  uwsTopic(vsn: ProtocolVersion): string {
    return `${vsn}|${this.key}`;
  }

  /** Every member socket, of both protocol versions (a copy: callers may remove members). */
  memberSockets(): MemberSocket[] {
    return [...this.members['1.0.0'], ...this.members['2.0.0']];
  }

  add(ws: MemberSocket): void {
    this.members[ws.getUserData().codec.vsn].add(ws);
  }

  remove(ws: MemberSocket): void {
    this.members[ws.getUserData().codec.vsn].delete(ws);
  }

  /**
   * Runs `send` with the change as this group may see it: the event text as it came, or, with row
   * authorization, the identity's view (readable columns only) once known, in order; `selectable`
   * is then the set of columns the identity may read (`null`: all). Never for a change it may not see.
   */
  protected authorized(
    change: IncomingChange,
    send: (eventJson: string, selectable: ReadonlySet<string> | null) => void,
  ): void {
    if (!this.rowAccess) send(change.eventJson, null);
    else this.rowAccess.submit(change, (view) => send(view.json, view.selectable));
  }

  /** A push with `ref` and `join_ref` null to every member (as change frames are sent). */
  pushToMembers(fanout: Fanout, event: string, payload: unknown): void {
    const json = JSON.stringify(payload);
    this.publishToMembers(fanout, [v1Codec, v2Codec], (codec) =>
      codec.encodeWithRawPayload({ joinRef: null, ref: null, topic: this.topic, event }, json),
    );
  }

  /** Encodes the frame once for every codec that has members and sends it to them. */
  protected publishToMembers(
    fanout: Fanout,
    codecs: readonly PhoenixCodec[],
    encode: (codec: PhoenixCodec) => string,
  ): void {
    for (const codec of codecs) {
      const sockets = this.members[codec.vsn];
      if (sockets.size === 0) continue;
      const frame = encode(codec);
      if (frame.length > LARGE_FRAME_CHARS) fanout.sendLarge(sockets, frame);
      else fanout.publish(this.uwsTopic(codec.vsn), frame);
    }
  }

  /** The single `column=eq.value` every change from `via` must satisfy for this group, if any (see EqualityIndex). */
  abstract equalityFor(via: BusEntry): { column: string; value: string } | null;

  /**
   * Decides whether `change`, which arrived through the subscription `via`, goes to this group and
   * sends its frames. Throws only for undecodable data (the caller counts and logs it).
   */
  abstract deliver(change: IncomingChange, fanout: Fanout, via: BusEntry): void;
}
