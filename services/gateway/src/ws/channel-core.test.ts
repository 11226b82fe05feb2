// The channel core without uWS or Redis: the frame router, joins, memberships, the registry and
// its delivery groups over the memory bus, with fake sockets that record what they are sent and a
// fake uWS topic fan-out. What the integration tests show over real sockets, here in milliseconds.
import { MemoryBus } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import { codecFor, encodeBusMessage, topicForTable, type PhoenixCodec } from '@walcast/protocol';
import { BusSubscriptions } from '../channels/bus-subscriptions';
import { ChannelRegistry } from '../channels/channel-registry';
import type { Fanout } from '../channels/delivery-group';
import type { ClientLimits } from '../config';
import { GatewayMetrics } from '../metrics';
import type { WebSocket } from '../uws';
import { ConnectionHandler } from './connection-handler';
import type { SocketData } from './socket-data';

const LIMITS: ClientLimits = {
  maxFrameDepth: 64,
  maxTopicBytes: 256,
  maxFilterBytes: 4096,
  maxBindingsPerJoin: 100,
  maxChannelsPerSocket: 100,
  maxJoinsPerSecond: 100,
  maxBusSubscriptions: 10_000,
};

const silent = { info() {}, warn() {}, debug() {}, error() {}, child: () => silent } as unknown as Logger;

/** What the gateway's uWS app does for topics: who is subscribed to what, and publishing to them. */
class FakeApp implements Fanout {
  readonly subscribers = new Map<string, Set<FakeSocket>>();

  publish(topic: string, frame: string): void {
    for (const ws of this.subscribers.get(topic) ?? []) ws.sent.push(frame);
  }

  sendLarge(): void {
    throw new Error('no large frames here');
  }
}

let nextId = 1;

/** The part of a uWS websocket the channel core uses, recording what it is sent. */
class FakeSocket {
  readonly sent: string[] = [];
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
    };
  }

  getUserData(): SocketData {
    return this.data;
  }

  cork(fn: () => void): this {
    fn();
    return this;
  }

  send(frame: string): number {
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

  /** The frames received so far, decoded as vsn 1.0.0 objects or 2.0.0 arrays. */
  frames(): unknown[] {
    return this.sent.map((f) => JSON.parse(f) as unknown);
  }
}

function setup(opts: { subscribe?: 'hang' } = {}) {
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
  const registry = new ChannelRegistry(subscriptions, app, metrics, silent);
  bus.onMessage((via, topic, message) => registry.dispatch(via, topic, message));
  const handler = new ConnectionHandler({
    registry,
    joinTimeoutMs: 50,
    limits: LIMITS,
    rowAuth: null,
    verifier: null,
    metrics,
    log: silent,
  });
  const socket = (vsn: '1.0.0' | '2.0.0' = '1.0.0'): FakeSocket => new FakeSocket(app, codecFor(vsn)!);
  const send = (ws: FakeSocket, frame: unknown): void =>
    handler.onMessage(
      ws as unknown as WebSocket<SocketData>,
      new TextEncoder().encode(JSON.stringify(frame)).buffer,
      false,
    );
  let seq = 0;
  const insert = (id: number): Promise<void> =>
    bus.publish(
      topicForTable('public', 'users'),
      encodeBusMessage(
        { v: 1, src: 'test', seq: ++seq, lsn: '0/1', type: 'INSERT', pk: ['id'] },
        JSON.stringify({
          schema: 'public',
          table: 'users',
          commit_timestamp: '2026-01-01T00:00:00.000000Z',
          errors: null,
          type: 'INSERT',
          columns: [{ name: 'id', type: 'int4' }],
          record: { id },
        }),
      ),
    );
  return { bus, app, registry, subscriptions, handler, socket, send, insert };
}

/** Lets the memory bus and promise callbacks run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('channel core', () => {
  it('a legacy join is answered once its subscription is live, then gets changes; leave releases it', async () => {
    const { socket, send, insert, subscriptions } = setup();
    const ws = socket();
    send(ws, { topic: 'realtime:public:users', event: 'phx_join', payload: {}, ref: '1' });
    expect(ws.frames()).toEqual([]);
    await flush();
    expect(ws.frames()).toEqual([
      {
        topic: 'realtime:public:users',
        event: 'phx_reply',
        payload: { status: 'ok', response: {} },
        ref: '1',
      },
      expect.objectContaining({ event: 'system' }),
    ]);
    await insert(7);
    await flush();
    expect(ws.frames().at(-1)).toMatchObject({ event: 'INSERT', payload: { record: { id: 7 } }, ref: null });
    send(ws, { topic: 'realtime:public:users', event: 'phx_leave', payload: {}, ref: '2' });
    expect(ws.frames().slice(-2)).toEqual([
      expect.objectContaining({ event: 'phx_reply', ref: '2' }),
      expect.objectContaining({ event: 'phx_close' }),
    ]);
    expect(subscriptions.size).toBe(0);
  });

  it('modern channels with the same bindings share one group and get postgres_changes with ids', async () => {
    const { socket, send, insert, registry } = setup();
    const config = { config: { postgres_changes: [{ event: '*', schema: 'public', table: 'users' }] } };
    const a = socket('2.0.0');
    const b = socket('2.0.0');
    send(a, ['1', '1', 'realtime:room', 'phx_join', config]);
    send(b, ['1', '1', 'realtime:room', 'phx_join', config]);
    await flush();
    expect(registry.groupCount).toBe(1);
    const reply = a.frames()[0] as [
      string,
      string,
      string,
      string,
      { response: { postgres_changes: Array<{ id: number }> } },
    ];
    const id = reply[4].response.postgres_changes[0]!.id;
    await insert(8);
    await flush();
    for (const ws of [a, b]) {
      expect(ws.frames().at(-1)).toEqual([
        null,
        null,
        'realtime:room',
        'postgres_changes',
        expect.objectContaining({ ids: [id] }),
      ]);
    }
  });

  it('a join whose subscription is never confirmed fails after JOIN_TIMEOUT and leaves nothing behind', async () => {
    const { socket, send, subscriptions, registry } = setup({ subscribe: 'hang' });
    const ws = socket();
    send(ws, { topic: 'realtime:public:users', event: 'phx_join', payload: {}, ref: '1' });
    await new Promise((r) => setTimeout(r, 80));
    expect(ws.frames()).toEqual([
      {
        topic: 'realtime:public:users',
        event: 'phx_reply',
        payload: {
          status: 'error',
          response: { reason: 'BusUnavailable: could not subscribe to changes in time; retry' },
        },
        ref: '1',
      },
    ]);
    expect(ws.data.channels.size).toBe(0);
    expect(registry.groupCount).toBe(0);
    expect(subscriptions.size).toBe(0);
  });

  it('closing a socket releases its memberships, groups and subscriptions', async () => {
    const { socket, send, handler, subscriptions, registry } = setup();
    const ws = socket();
    send(ws, { topic: 'realtime:public:users', event: 'phx_join', payload: {}, ref: '1' });
    send(ws, { topic: 'realtime:public', event: 'phx_join', payload: {}, ref: '2' });
    await flush();
    expect(subscriptions.size).toBe(2);
    handler.onClose(ws as unknown as WebSocket<SocketData>);
    expect(ws.data.channels.size).toBe(0);
    expect(registry.groupCount).toBe(0);
    expect(subscriptions.size).toBe(0);
  });
});
