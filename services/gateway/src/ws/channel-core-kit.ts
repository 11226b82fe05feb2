/**
 * A test kit for the channel core without uWS or Redis: the frame router, joins, memberships, the
 * registries and their groups over the memory bus, with fake sockets that record what they are
 * sent and a fake uWS topic fan-out. Used by the channel-core unit tests; not part of the build.
 */
import { MemoryBus } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import {
  codecFor,
  encodeBusMessage,
  formatPosition,
  encodeBroadcastMessage,
  encodeUserBroadcastPush,
  topicForBroadcast,
  isBroadcastTopic,
  topicForTable,
  type PhoenixCodec,
} from '@walcast/protocol';
import type { BroadcastFanout } from '../channels/broadcast-group';
import { BroadcastRegistry } from '../channels/broadcast-registry';
import type { Frame } from '../channels/broadcast-frames';
import { BusSubscriptions } from '../channels/bus-subscriptions';
import { ChannelRegistry } from '../channels/channel-registry';
import type { Fanout, MemberSocket } from '../channels/delivery-group';
import type { TokenVerifier } from '../auth/token-verifier';
import type { ClientLimits, PresenceLimits } from '../config';
import { presenceState } from '../channels/presence-binding';
import type { PresenceEntry, PresenceStore, PresenceTopic } from '../presence/presence-store';
import { GatewayMetrics } from '../metrics';
import type { WebSocket } from '../uws';
import { ConnectionHandler } from './connection-handler';
import type { SocketData } from './socket-data';

export const LIMITS: ClientLimits = {
  maxFrameDepth: 64,
  maxTopicBytes: 256,
  maxFilterBytes: 4096,
  maxBindingsPerJoin: 100,
  maxChannelsPerSocket: 100,
  maxJoinsPerSecond: 100,
  maxBusSubscriptions: 10_000,
  maxBroadcastBytes: 256 * 1024,
  maxChannelBroadcastsPerSecond: 100,
  maxSocketBroadcastsPerSecond: 500,
};

const silent = { info() {}, warn() {}, debug() {}, error() {}, child: () => silent } as unknown as Logger;

/** What the gateway's uWS app does for topics: who is subscribed to what, and publishing to them. */
export class FakeApp implements Fanout {
  readonly subscribers = new Map<string, Set<FakeSocket>>();

  publish(topic: string, frame: string): void {
    for (const ws of this.subscribers.get(topic) ?? []) ws.sent.push(frame);
  }

  sendLarge(): void {
    throw new Error('no large frames here');
  }

  send(socket: MemberSocket, frame: string): void {
    (socket as FakeSocket).sent.push(frame);
  }

  /** The broadcast fan-out: uWS topic publishing (leaving out a publishing socket) and direct sends. */
  readonly broadcast: BroadcastFanout = {
    publish: (topic, frame, exclude) => {
      for (const ws of this.subscribers.get(topic) ?? []) if (ws !== exclude) ws.sent.push(body(frame));
    },
    send: (socket, frame) => (socket as FakeSocket).sent.push(body(frame)),
  };
}

const body = (frame: Frame): string | Uint8Array => frame.text ?? frame.binary;

/** Presence in memory, publishing its diffs on the bus as the Redis store does. */
export class MemoryPresenceStore implements PresenceStore {
  readonly topics = new Map<string, Map<string, PresenceEntry>>();

  constructor(private readonly bus: MemoryBus) {}

  private publish(topic: PresenceTopic, joins: PresenceEntry[], leaves: PresenceEntry[]): Promise<void> {
    const diff = { joins: presenceState(joins), leaves: presenceState(leaves) };
    const header = {
      v: 1 as const,
      src: 'memory-presence',
      shape: 'presence' as const,
      event: 'presence_diff',
      enc: 'json' as const,
    };
    return this.bus.publish(
      topicForBroadcast(topic.subtopic, topic.isPrivate),
      encodeBroadcastMessage(header, JSON.stringify(diff)),
    );
  }

  private state(topic: PresenceTopic): Map<string, PresenceEntry> {
    const id = `${topic.isPrivate}|${topic.subtopic}`;
    let state = this.topics.get(id);
    if (!state) this.topics.set(id, (state = new Map()));
    return state;
  }

  track(topic: PresenceTopic, entry: PresenceEntry, previous: PresenceEntry | null): Promise<void> {
    const state = this.state(topic);
    if (previous) state.delete(previous.meta.phx_ref);
    state.set(entry.meta.phx_ref, entry);
    return this.publish(topic, [entry], previous ? [previous] : []);
  }

  untrack(topic: PresenceTopic, entry: PresenceEntry): Promise<void> {
    this.state(topic).delete(entry.meta.phx_ref);
    return this.publish(topic, [], [entry]);
  }

  list(topic: PresenceTopic): Promise<PresenceEntry[]> {
    return Promise.resolve([...this.state(topic).values()]);
  }

  start(): void {}

  stop(): Promise<void> {
    return Promise.resolve();
  }

  onResync(): void {}
}

let nextId = 1;

/** The part of a uWS websocket the channel core uses, recording what it is sent. */
export class FakeSocket {
  readonly sent: Array<string | Uint8Array> = [];
  readonly data: SocketData;
  ended: number | null = null;

  constructor(
    private readonly app: FakeApp,
    codec: PhoenixCodec,
  ) {
    this.data = {
      id: nextId++,
      codec,
      channels: new Map(),
      lastInboundAt: Date.now(),
      closed: false,
      remoteAddress: '127.0.0.1',
      closeReason: null,
      connectToken: null,
      inbox: null,
      joinRate: null,
      broadcastRate: null,
    };
  }

  getUserData(): SocketData {
    return this.data;
  }

  cork(fn: () => void): this {
    fn();
    return this;
  }

  send(frame: string | Uint8Array): number {
    this.sent.push(frame);
    return 1;
  }

  subscribe(topic: string): boolean {
    let set = this.app.subscribers.get(topic);
    if (!set) {
      set = new Set();
      this.app.subscribers.set(topic, set);
    }
    set.add(this);
    return true;
  }

  unsubscribe(topic: string): boolean {
    return this.app.subscribers.get(topic)?.delete(this) ?? false;
  }

  end(code: number): void {
    this.ended = code;
  }

  /** The frames received so far: text decoded as vsn 1.0.0 objects or 2.0.0 arrays, binary as bytes. */
  frames(): unknown[] {
    return this.sent.map((f) => (typeof f === 'string' ? (JSON.parse(f) as unknown) : f));
  }
}

export function setup(
  opts: {
    subscribe?: 'hang';
    limits?: Partial<ClientLimits>;
    verifier?: TokenVerifier;
    presence?: Partial<PresenceLimits>;
    privateOnly?: boolean;
    /** Read the memory bus's history (catch-up and `since`), as with HISTORY=true. */
    history?: boolean;
  } = {},
) {
  const bus = new MemoryBus();
  if (opts.subscribe === 'hang') bus.subscribe = () => new Promise<void>(() => undefined);
  const app = new FakeApp();
  const subscriptions = new BusSubscriptions(bus, silent);
  const metrics = new GatewayMetrics({
    connections: () => 0,
    channels: () => 0,
    deliveryGroups: () => 0,
    busSubscriptions: () => 0,
    redisReady: () => true,
    draining: () => false,
  });
  const registry = new ChannelRegistry(
    subscriptions,
    app,
    metrics,
    silent,
    null,
    opts.history ? bus.history : null,
  );
  let wasReady = false;
  bus.onStateChange((state) => {
    if (state === 'reconnecting') registry.busLost();
    if (state === 'ready' && wasReady) registry.busReconnected();
    if (state === 'ready') wasReady = true;
  });
  bus.setState('ready');
  const broadcasts = new BroadcastRegistry(subscriptions, bus, app.broadcast, metrics, silent);
  const presence = new MemoryPresenceStore(bus);
  bus.onMessage((via, topic, message) => {
    if (isBroadcastTopic(topic)) broadcasts.dispatch(via, message);
    else registry.dispatch(via, topic, message);
  });
  const limits = { ...LIMITS, ...opts.limits };
  const handler = new ConnectionHandler({
    registry,
    broadcasts,
    privateChannels: null,
    presence,
    presenceLimits: {
      maxCalls: 5,
      windowMs: 30_000,
      maxBytes: 64 * 1024,
      maxEventsPerSecond: 1000,
      ...opts.presence,
    },
    privateOnly: opts.privateOnly ?? false,
    joinTimeoutMs: 50,
    limits,
    rowAuth: null,
    verifier: opts.verifier ?? null,
    metrics,
    log: silent,
  });
  registry.onChangesLost((groups) => void handler.failChannels(groups));
  const socket = (vsn: '1.0.0' | '2.0.0' = '1.0.0'): FakeSocket => new FakeSocket(app, codecFor(vsn)!);
  const send = (ws: FakeSocket, frame: unknown): void =>
    handler.onMessage(
      ws as unknown as WebSocket<SocketData>,
      new TextEncoder().encode(JSON.stringify(frame)).buffer,
      false,
    );
  /** Sends a vsn 2.0.0 binary kind-3 frame. */
  const sendBinary = (
    ws: FakeSocket,
    frame: Parameters<typeof encodeUserBroadcastPush>[0] | Uint8Array,
  ): void => {
    const bytes = frame instanceof Uint8Array ? frame : encodeUserBroadcastPush(frame);
    handler.onMessage(ws as unknown as WebSocket<SocketData>, new Uint8Array(bytes).buffer, true);
  };
  let seq = 0;
  /** Publishes an INSERT of `id` at position (id, 0), into the history too; `again` reuses its seq. */
  const insert = (id: number, again = false): Promise<void> => {
    const position = formatPosition(BigInt(id), 0);
    return bus.publish(
      topicForTable('public', 'users'),
      encodeBusMessage(
        {
          v: 1,
          src: 'test',
          seq: again ? seq : ++seq,
          lsn: '0/1',
          type: 'INSERT',
          pk: ['id'],
          pos: position,
        },
        JSON.stringify({
          schema: 'public',
          table: 'users',
          commit_timestamp: '2026-01-01T00:00:00.000000Z',
          errors: null,
          type: 'INSERT',
          columns: [{ name: 'id', type: 'int4' }],
          record: { id },
          position,
        }),
      ),
      { position, streamId: `${id}-0` },
    );
  };
  return {
    bus,
    app,
    registry,
    broadcasts,
    subscriptions,
    handler,
    metrics,
    socket,
    send,
    sendBinary,
    insert,
  };
}

/** Lets the memory bus and promise callbacks run. */
export async function flush(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve)); // local broadcast deliveries
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
