// The channel core without uWS or Redis (see channel-core-kit.ts): joins, memberships, the
// registry and its delivery groups over the memory bus. What the integration tests show over real
// sockets, here in milliseconds.
import type { WebSocket } from '../uws';
import { flush, setup } from './channel-core-kit';
import type { SocketData } from './socket-data';

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

  it('joins count against the join rate as they arrive: a flood behind a pending join closes the socket (4004)', () => {
    const { socket, send } = setup({ subscribe: 'hang' });
    const ws = socket('2.0.0');
    for (let i = 0; i < 150; i++) send(ws, ['1', `j${i}`, `realtime:room${i}`, 'phx_join', { config: {} }]);
    expect(ws.ended).toBe(4004);
    const replies = (ws.frames() as unknown[][]).map((f) => JSON.stringify(f));
    expect(replies.filter((r) => r.includes('ClientJoinRateLimitReached'))).toHaveLength(1);
    expect(replies.filter((r) => r.includes('ProtocolViolation'))).toHaveLength(0);
  });
});
