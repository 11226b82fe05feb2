/**
 * The sockets that receive the broadcasts of one channel topic in one namespace (public or
 * private), on this gateway. A message is encoded once per protocol version and handed to uWS
 * topic publishing (per-socket work in C++); a socket that must not receive its own message
 * (`config.broadcast.self` false) is excluded by publishing from it.
 *
 * Broadcasts and presence diffs have their own uWS topics: on a private channel a member may read
 * one and not the other (its read permissions per extension); on a public channel every member
 * reads both.
 *
 * Members that replayed stored messages at join are "filtered": they receive through their own
 * send, skipping live copies of the ids they replayed, and hold live messages back while their
 * replay is being read.
 */
import {
  PhoenixEvents,
  v1Codec,
  v2Codec,
  type BroadcastMessage,
  type ProtocolVersion,
} from '@walcast/protocol';
import type { BusEntry } from './bus-subscriptions';
import { broadcastFrame, type Frame } from './broadcast-frames';
import { LARGE_FRAME_CHARS, type MemberSocket } from './delivery-group';

/** How broadcast frames leave the gateway. */
export interface BroadcastFanout {
  /** To every subscriber of `uwsTopic`, except `exclude` when given. */
  publish(uwsTopic: string, frame: Frame, exclude: MemberSocket | null): void;
  /** To one socket (filtered members, and text frames too large for one websocket frame). */
  send(socket: MemberSocket, frame: Frame): void;
}

/** A member that receives through its own send: skips `replayed` ids, queues while `held`. */
export interface FilteredMember {
  socket: MemberSocket;
  replayed: Set<string>;
  held: BroadcastMessage[] | null;
}

const VERSIONS: readonly ProtocolVersion[] = ['1.0.0', '2.0.0'];

/** The key of the group of `realtime:<subtopic>` in its namespace. */
export function broadcastGroupKey(subtopic: string, isPrivate: boolean): string {
  return `b|${isPrivate ? 'private' : 'public'}|${subtopic}`;
}

export class BroadcastGroup {
  private readonly members: Record<ProtocolVersion, Set<MemberSocket>> = {
    '1.0.0': new Set(),
    '2.0.0': new Set(),
  };
  private readonly filtered = new Map<MemberSocket, FilteredMember>();
  /** Members that read presence diffs (through the presence uWS topic). */
  private readonly presence: Record<ProtocolVersion, Set<MemberSocket>> = {
    '1.0.0': new Set(),
    '2.0.0': new Set(),
  };
  /** Joins waiting for the group's subscription: the group is kept while any is pending. */
  private pins = 0;

  constructor(
    /** The channel topic without `realtime:`. */
    readonly subtopic: string,
    readonly isPrivate: boolean,
    readonly busEntry: BusEntry,
  ) {
    this.key = broadcastGroupKey(subtopic, isPrivate);
    this.topic = `realtime:${subtopic}`;
  }

  /** `b|public|<subtopic>` or `b|private|<subtopic>`: unique among live broadcast groups. */
  readonly key: string;
  /** The channel topic, `realtime:<subtopic>`. */
  readonly topic: string;

  get size(): number {
    const members = new Set([...this.members['1.0.0'], ...this.members['2.0.0'], ...this.filtered.keys()]);
    for (const vsn of VERSIONS) for (const ws of this.presence[vsn]) members.add(ws);
    return members.size + this.pins;
  }

  /** Keeps the group alive while a join is pending (until `unpin`), though it has no member yet. */
  pin(): void {
    this.pins++;
  }

  unpin(): void {
    this.pins = Math.max(0, this.pins - 1);
  }

  /** The uWS topic a member of this codec version subscribes to. */
  uwsTopic(vsn: ProtocolVersion): string {
    return `${vsn}|${this.key}`;
  }

  /** Whether members of `vsn` receive through uWS topic publishing (filtered members not counted). */
  hasMembers(vsn: ProtocolVersion): boolean {
    return this.members[vsn].size > 0;
  }

  /** The uWS topic a presence reader of this codec version subscribes to. */
  presenceTopic(vsn: ProtocolVersion): string {
    return `${vsn}|${this.key}|presence`;
  }

  /** Adds a presence reader (it subscribes to `presenceTopic`). */
  addPresence(ws: MemberSocket): void {
    this.presence[ws.getUserData().codec.vsn].add(ws);
  }

  hasPresenceReaders(): boolean {
    return this.presence['1.0.0'].size + this.presence['2.0.0'].size > 0;
  }

  /** Whether `ws` reads presence diffs here. */
  readsPresence(ws: MemberSocket): boolean {
    return this.presence[ws.getUserData().codec.vsn].has(ws);
  }

  /** Adds a socket that receives through uWS topic publishing (it subscribes to `uwsTopic`). */
  add(ws: MemberSocket): void {
    this.members[ws.getUserData().codec.vsn].add(ws);
  }

  /** Adds a socket that receives through its own send, holding live messages until `release`. */
  addFiltered(ws: MemberSocket): FilteredMember {
    const member: FilteredMember = { socket: ws, replayed: new Set(), held: [] };
    this.filtered.set(ws, member);
    return member;
  }

  /**
   * Sends a filtered member its replayed messages, then what it held back meanwhile, minus the live
   * copies of those it replayed (and any later ones).
   */
  replay(member: FilteredMember, messages: readonly BroadcastMessage[], fanout: BroadcastFanout): void {
    for (const message of messages) this.sendFiltered(member, message, fanout);
    for (const message of messages) {
      const id = message.header.meta?.id;
      if (typeof id === 'string') member.replayed.add(id);
    }
    this.releaseHeld(member, fanout);
  }

  /** Sends what a filtered member held back, minus the ids it replayed, and stops holding. */
  releaseHeld(member: FilteredMember, fanout: BroadcastFanout): void {
    const held = member.held ?? [];
    member.held = null;
    for (const message of held) this.sendFiltered(member, message, fanout);
  }

  remove(ws: MemberSocket): void {
    const { vsn } = ws.getUserData().codec;
    this.members[vsn].delete(ws);
    this.presence[vsn].delete(ws);
    this.filtered.delete(ws);
  }

  /**
   * Sends `message` to every member but `exclude`. Returns how many sockets it was sent to (a
   * vsn 1.0.0 member gets nothing for a binary payload).
   */
  deliver(message: BroadcastMessage, fanout: BroadcastFanout, exclude: MemberSocket | null): number {
    if (message.header.shape === 'presence') return this.deliverPresence(message, fanout);
    let sent = 0;
    for (const vsn of VERSIONS) {
      const sockets = this.members[vsn];
      const count = sockets.size - (exclude && sockets.has(exclude) ? 1 : 0);
      if (count <= 0) continue;
      const frame = broadcastFrame(message, this.topic, vsn);
      if (!frame) continue;
      sent += count;
      if (frame.text !== undefined && frame.text.length > LARGE_FRAME_CHARS) {
        for (const ws of sockets) if (ws !== exclude) fanout.send(ws, frame);
      } else {
        fanout.publish(this.uwsTopic(vsn), frame, exclude && sockets.has(exclude) ? exclude : null);
      }
    }
    for (const member of this.filtered.values()) {
      if (member.socket === exclude) continue;
      if (member.held) member.held.push(message);
      else if (this.sendFiltered(member, message, fanout)) sent++;
    }
    return sent;
  }

  /** `presence_state` (its payload's JSON) to every presence reader, with join ref null. */
  publishPresenceState(stateJson: string, fanout: BroadcastFanout): void {
    for (const vsn of VERSIONS) {
      if (this.presence[vsn].size === 0) continue;
      const codec = vsn === '1.0.0' ? v1Codec : v2Codec;
      const text = codec.encodeWithRawPayload(
        { joinRef: null, ref: null, topic: this.topic, event: PhoenixEvents.presenceState },
        stateJson,
      );
      if (text.length > LARGE_FRAME_CHARS) for (const ws of this.presence[vsn]) fanout.send(ws, { text });
      else fanout.publish(this.presenceTopic(vsn), { text }, null);
    }
  }

  /** A presence diff, to every presence reader. */
  private deliverPresence(message: BroadcastMessage, fanout: BroadcastFanout): number {
    let sent = 0;
    for (const vsn of VERSIONS) {
      const sockets = this.presence[vsn];
      if (sockets.size === 0) continue;
      const frame = broadcastFrame(message, this.topic, vsn);
      if (!frame) continue;
      sent += sockets.size;
      if (frame.text !== undefined && frame.text.length > LARGE_FRAME_CHARS) {
        for (const ws of sockets) fanout.send(ws, frame);
      } else fanout.publish(this.presenceTopic(vsn), frame, null);
    }
    return sent;
  }

  private sendFiltered(member: FilteredMember, message: BroadcastMessage, fanout: BroadcastFanout): boolean {
    const id = message.header.meta?.id;
    if (typeof id === 'string' && member.replayed.has(id)) return false;
    const frame = broadcastFrame(message, this.topic, member.socket.getUserData().codec.vsn);
    if (!frame) return false;
    fanout.send(member.socket, frame);
    return true;
  }
}
