/**
 * Broadcast on this gateway: the broadcast groups (one per channel topic and namespace), the Redis
 * subscriptions that feed them (reference-counted with the change subscriptions in
 * BusSubscriptions), and the two ways a message arrives.
 *
 * - `send`: a message from a client of this gateway (websocket or REST) is delivered to the local
 *   group at the end of the event-loop turn (deliverSoon says why) and published to Redis for the
 *   other gateways; it resolves once Redis accepted it
 *   (what `config.broadcast.ack` waits for).
 * - `dispatch`: a message from Redis. The gateway's own messages come back too and are skipped (they
 *   were delivered locally already); every other one goes to the local group.
 *
 * Delivery is at most once, as Redis pub/sub; per sender and topic, messages keep their order.
 */
import { randomBytes } from 'node:crypto';
import {
  BROADCAST_MESSAGE_VERSION,
  decodeBroadcastMessage,
  encodeBroadcastMessage,
  topicForBroadcast,
  type BroadcastHeader,
  type BroadcastMessage,
} from '@walcast/protocol';
import { busKeyId, type Bus, type BusKey } from '@walcast/bus';
import { LogThrottle, type Logger } from '@walcast/logger';
import type { GatewayMetrics } from '../metrics';
import type { BusEntry, BusSubscriptions } from './bus-subscriptions';
import {
  BroadcastGroup,
  broadcastGroupKey,
  type BroadcastFanout,
  type FilteredMember,
} from './broadcast-group';
import type { MemberSocket } from './delivery-group';

/** A message to broadcast, before it has a source and a time. */
export interface OutgoingBroadcast {
  subtopic: string;
  isPrivate: boolean;
  header: Pick<BroadcastHeader, 'shape' | 'event' | 'enc' | 'meta'>;
  /** JSON text, or base64 for a binary payload. */
  payloadText: string;
}

export class BroadcastRegistry {
  private readonly groups = new Map<string, BroadcastGroup>();
  private readonly byEntry = new Map<BusEntry, BroadcastGroup>();
  /** Names this process's messages on the bus, so it can skip them when they come back. */
  readonly src = `gw-${randomBytes(9).toString('base64url')}`;
  private readonly throttle = new LogThrottle({ max: 5, windowMs: 60_000 });
  /** Messages sent by this gateway's clients, delivered here at the end of the turn (deliverSoon). */
  private soon: Array<{ group: BroadcastGroup; message: BroadcastMessage; exclude: MemberSocket | null }> =
    [];

  constructor(
    private readonly subscriptions: BusSubscriptions,
    private readonly bus: Pick<Bus, 'publish'>,
    private readonly fanout: BroadcastFanout,
    private readonly metrics: GatewayMetrics,
    private readonly log: Logger,
  ) {}

  static busKey(subtopic: string, isPrivate: boolean): BusKey {
    return { topic: topicForBroadcast(subtopic, isPrivate) };
  }

  get groupCount(): number {
    return this.groups.size;
  }

  /** The group of `realtime:<subtopic>` in its namespace, created (and subscribed) on first use. */
  group(subtopic: string, isPrivate: boolean): BroadcastGroup {
    const existing = this.groups.get(broadcastGroupKey(subtopic, isPrivate));
    if (existing) return existing;
    const entry = this.subscriptions.acquire(BroadcastRegistry.busKey(subtopic, isPrivate));
    const group = new BroadcastGroup(subtopic, isPrivate, entry);
    this.groups.set(group.key, group);
    this.byEntry.set(entry, group);
    return group;
  }

  /** Drops a group once it has no members left, releasing its Redis subscription. */
  releaseIfEmpty(group: BroadcastGroup): void {
    if (group.size > 0 || this.groups.get(group.key) !== group) return;
    this.groups.delete(group.key);
    this.byEntry.delete(group.busEntry);
    this.subscriptions.release(group.busEntry);
  }

  /**
   * Delivers `out` to this gateway's subscribers of its topic (all but `exclude`) and publishes it
   * for the others; resolves once Redis accepted it.
   */
  send(out: OutgoingBroadcast, exclude: MemberSocket | null, origin: 'websocket' | 'rest'): Promise<void> {
    this.metrics.broadcastsIn.inc({ origin });
    const header: BroadcastHeader = {
      v: BROADCAST_MESSAGE_VERSION,
      src: this.src,
      ...out.header,
      ts: Date.now(),
    };
    const message: BroadcastMessage = { header, payloadText: out.payloadText };
    const local = this.groups.get(broadcastGroupKey(out.subtopic, out.isPrivate));
    if (local) this.deliverSoon(local, message, exclude);
    return this.bus.publish(
      topicForBroadcast(out.subtopic, out.isPrivate),
      encodeBroadcastMessage(header, out.payloadText),
    );
  }

  /**
   * Local delivery of a message a client sent, after the handler of its frame (in the same turn of
   * the event loop, with the other messages sent in it). uWebSockets.js publishes several times more
   * cheaply outside a socket's message handler: inside it, a sender that does not receive the
   * message (`self` false) makes every delivery its own write (BENCH=broadcast measured 4×).
   */
  private deliverSoon(group: BroadcastGroup, message: BroadcastMessage, exclude: MemberSocket | null): void {
    this.soon.push({ group, message, exclude });
    if (this.soon.length === 1) setImmediate(() => this.flushSoon());
  }

  private flushSoon(): void {
    const batch = this.soon;
    this.soon = [];
    for (const { group, message, exclude } of batch) {
      // A group released meanwhile has nobody left to deliver to.
      if (this.groups.get(group.key) === group) this.deliver(group, message, exclude);
    }
  }

  /** Sends a filtered member its replayed messages, then what arrived meanwhile (see BroadcastGroup.replay). */
  replayTo(group: BroadcastGroup, member: FilteredMember, messages: readonly BroadcastMessage[]): void {
    group.replay(member, messages, this.fanout);
    this.metrics.broadcastDeliveries.inc(messages.length);
  }

  /** The topics whose groups here have presence readers. */
  presenceTopics(): Array<{ subtopic: string; isPrivate: boolean }> {
    return [...this.groups.values()]
      .filter((g) => g.hasPresenceReaders())
      .map((g) => ({ subtopic: g.subtopic, isPrivate: g.isPrivate }));
  }

  /** `presence_state` to every presence reader of a topic's group here, if there is one. */
  pushPresenceState(subtopic: string, isPrivate: boolean, state: unknown): void {
    const group = this.groups.get(broadcastGroupKey(subtopic, isPrivate));
    group?.publishPresenceState(JSON.stringify(state), this.fanout);
  }

  /** The bus handler for broadcast topics. Never throws: a bad message is counted and logged. */
  dispatch(via: BusKey, text: string): void {
    const entry = this.subscriptions.get(busKeyId(via));
    if (!entry) return; // unsubscribed meanwhile
    entry.markLive();
    const group = this.byEntry.get(entry);
    let message: BroadcastMessage;
    try {
      message = decodeBroadcastMessage(text);
    } catch (err) {
      this.metrics.broadcastsDropped.inc({ reason: 'malformed' });
      this.throttle.warn(
        this.log,
        { err, topic: entry.id, code: 'MalformedBusMessage' },
        'dropped a broadcast that cannot be decoded',
      );
      return;
    }
    // Our own broadcasts were delivered here when sent; presence diffs are delivered from Redis only
    // (in the order of the state changes that made them).
    if (message.header.src === this.src && message.header.shape !== 'presence') return;
    this.metrics.broadcastsIn.inc({ origin: 'bus' });
    if (!group) return;
    this.deliver(group, message, null);
    if (message.header.ts !== undefined)
      this.metrics.broadcastLatency.observe(Math.max(0, Date.now() - message.header.ts) / 1000);
  }

  private deliver(group: BroadcastGroup, message: BroadcastMessage, exclude: MemberSocket | null): void {
    try {
      const sent = group.deliver(message, this.fanout, exclude);
      this.metrics.broadcastDeliveries.inc(sent);
      // A binary payload cannot reach vsn 1.0.0 sockets (a text frame cannot carry it).
      if (message.header.enc === 'binary' && group.hasMembers('1.0.0'))
        this.metrics.broadcastsDropped.inc({ reason: 'no_frame' });
    } catch (err) {
      this.metrics.broadcastsDropped.inc({ reason: 'malformed' });
      this.throttle.warn(
        this.log,
        { err, topic: group.busEntry.id, code: 'MalformedBusMessage' },
        'could not deliver a broadcast',
      );
    }
  }
}
