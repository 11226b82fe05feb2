/**
 * A delivery group: the sockets that receive byte-identical frames for a change (same channel
 * topic, same subscription, same codec). A change is matched and encoded once per group and codec,
 * then handed to uWS topic publishing, which fans it out in C++ (invariant I4: never once per socket).
 */
import {
  comparePositionTexts,
  decodeBusMessage,
  parseTopic,
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

/** Decodes one bus message of a table topic (throws for one that cannot be decoded). */
export function incomingChange(topic: string, message: string): IncomingChange {
  const { header, eventJson } = decodeBusMessage(message);
  const table = parseTopic(topic);
  if (!table) throw new Error(`not a table topic: ${topic}`);
  let parsed: ParsedChange | undefined;
  return {
    header,
    eventJson,
    schema: table.schema,
    table: table.table,
    parsed: () => (parsed ??= JSON.parse(eventJson) as ParsedChange),
  };
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
  /** One frame to one socket (fragmented when large). */
  send(socket: MemberSocket, frame: string): void;
}

/** A frame held for a resuming member, with the table and position of its change (none for notices). */
interface HeldFrame {
  frame: string;
  table: string | null;
  position: string | null;
}

/**
 * A member catching up from the history (a join with `since`): it is not subscribed to the group's
 * uWS topic yet, and the group's frames wait here, in order, until its replay is done.
 */
interface ResumingMember {
  codec: PhoenixCodec;
  held: HeldFrame[];
  heldChars: number;
  /** More was held than {@link MAX_HELD_CHARS}: the replay cannot end without a gap. */
  overflow: boolean;
}

/** Most characters of frames held for one resuming member. */
export const MAX_HELD_CHARS = 32 * 1024 * 1024;

/** The key of a change's table among held frames and replay positions. */
export function tableKeyOf(change: { schema: string; table: string }): string {
  return `${change.schema}\u0000${change.table}`;
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
  /** Members replaying from the history (see {@link ResumingMember}). */
  private readonly resuming = new Map<MemberSocket, ResumingMember>();

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
    return this.members['1.0.0'].size + this.members['2.0.0'].size + this.resuming.size;
  }

  /** The uWS topic a socket of this codec subscribes to. */
  uwsTopic(vsn: ProtocolVersion): string {
    return `${vsn}|${this.key}`;
  }

  /** Every member socket, of both protocol versions, resuming ones too (a copy: callers may remove members). */
  memberSockets(): MemberSocket[] {
    return [...this.members['1.0.0'], ...this.members['2.0.0'], ...this.resuming.keys()];
  }

  add(ws: MemberSocket): void {
    this.members[ws.getUserData().codec.vsn].add(ws);
  }

  remove(ws: MemberSocket): void {
    this.members[ws.getUserData().codec.vsn].delete(ws);
    this.resuming.delete(ws);
  }

  /** Makes a member a resuming one: from now on its frames are held until {@link finishResuming}. */
  startResuming(ws: MemberSocket): void {
    const { codec } = ws.getUserData();
    this.members[codec.vsn].delete(ws);
    this.resuming.set(ws, { codec, held: [], heldChars: 0, overflow: false });
  }

  /** Whether `ws` is still resuming here (not removed, not moved to another group meanwhile). */
  isResuming(ws: MemberSocket): boolean {
    return this.resuming.has(ws);
  }

  /**
   * Ends a member's resumption: returns the frames held for it that its replay did not already
   * cover (a change at or before `replayed` of its table was replayed; none at or before `since`
   * is wanted), in order, or null if more
   * was held than could be kept; it is a plain member again either way.
   */
  finishResuming(ws: MemberSocket, replayed: ReadonlyMap<string, string>, since: string): string[] | null {
    const member = this.resuming.get(ws);
    if (!member) return [];
    this.resuming.delete(ws);
    this.members[member.codec.vsn].add(ws);
    if (member.overflow) return null;
    return member.held
      .filter((h) => {
        if (h.table === null || h.position === null) return true;
        const last = replayed.get(h.table);
        return comparePositionTexts(h.position, last ?? since) > 0;
      })
      .map((h) => h.frame);
  }

  private hold(codec: PhoenixCodec, frame: string, origin: IncomingChange | undefined): void {
    for (const member of this.resuming.values()) {
      if (member.codec !== codec || member.overflow) continue;
      member.heldChars += frame.length;
      if (member.heldChars > MAX_HELD_CHARS) {
        member.overflow = true;
        member.held = [];
        continue;
      }
      member.held.push({
        frame,
        table: origin ? tableKeyOf(origin) : null,
        position: origin?.header.pos ?? null,
      });
    }
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

  /**
   * Encodes the frame once for every codec that has members and sends it to them; resuming members
   * get it later (held, with the table and position of `origin`, the change it is about).
   */
  protected publishToMembers(
    fanout: Fanout,
    codecs: readonly PhoenixCodec[],
    encode: (codec: PhoenixCodec) => string,
    origin?: IncomingChange,
  ): void {
    const resuming = this.resuming.size > 0;
    for (const codec of codecs) {
      const sockets = this.members[codec.vsn];
      if (sockets.size === 0 && !resuming) continue;
      const frame = encode(codec);
      if (resuming) this.hold(codec, frame, origin);
      if (sockets.size === 0) continue;
      if (frame.length > LARGE_FRAME_CHARS) fanout.sendLarge(sockets, frame);
      else fanout.publish(this.uwsTopic(codec.vsn), frame);
    }
  }

  /**
   * A group like this one that only a resuming socket joins, to pass the history through
   * (`sinceById`: per binding id, the position its replay starts after; legacy groups have one).
   * It shares this group's bus entries but is never registered, so it holds no subscription.
   */
  abstract replayCopy(sinceById: ReadonlyMap<number, string>): DeliveryGroup;

  /** The single `column=eq.value` every change from `via` must satisfy for this group, if any (see EqualityIndex). */
  abstract equalityFor(via: BusEntry): { column: string; value: string } | null;

  /**
   * Decides whether `change`, which arrived through the subscription `via`, goes to this group and
   * sends its frames. Throws only for undecodable data (the caller counts and logs it).
   */
  abstract deliver(change: IncomingChange, fanout: Fanout, via: BusEntry): void;
}
