// Presence in the channel core (see channel-core-kit.ts; presence kept in memory there, as the Redis
// store keeps it across gateways): presence_state at join, diffs to every presence reader, track
// semantics (no-op, update, untrack), leaving and closing, keys, limits and their errors.
import type { WebSocket } from '../uws';
import { flush, setup, type FakeSocket } from './channel-core-kit';
import type { SocketData } from './socket-data';

const TOPIC = 'realtime:room';
type Frame = [string | null, string | null, string, string, Record<string, unknown>];

const joinFrame = (presence: Record<string, unknown> = { enabled: true, key: '' }) => [
  '1',
  '1',
  TOPIC,
  'phx_join',
  { config: { postgres_changes: [], presence } },
];
const track = (ref: string, payload: unknown) => [
  '1',
  ref,
  TOPIC,
  'presence',
  { type: 'presence', event: 'track', payload },
];
const untrack = (ref: string) => ['1', ref, TOPIC, 'presence', { type: 'presence', event: 'untrack' }];

const frames = (ws: FakeSocket): Frame[] => ws.frames() as Frame[];
const events = (ws: FakeSocket, event: string) =>
  frames(ws)
    .filter((f) => f[3] === event)
    .map((f) => f[4]);

async function room(opts: Parameters<typeof setup>[0] = {}) {
  const kit = setup(opts);
  const a = kit.socket('2.0.0');
  const b = kit.socket('2.0.0');
  kit.send(a, joinFrame({ enabled: true, key: 'ka' }));
  kit.send(b, joinFrame({ enabled: true, key: 'kb' }));
  await flush();
  return { ...kit, a, b };
}

describe('presence', () => {
  it('a join with presence gets presence_state; a track is answered ok and diffed to every reader, the tracker too', async () => {
    const { send, a, b } = await room();
    expect(events(a, 'presence_state')).toEqual([{}]);
    send(a, track('2', { u: 'a' }));
    await flush();
    expect(frames(a)).toContainEqual(['1', '2', TOPIC, 'phx_reply', { status: 'ok', response: {} }]);
    for (const ws of [a, b]) {
      const [diff] = events(ws, 'presence_diff');
      expect(diff).toEqual({
        joins: { ka: { metas: [{ u: 'a', phx_ref: expect.any(String) }] } },
        leaves: {},
      });
    }
  });

  it('an identical track changes nothing; a changed one is one diff: the old meta leaves, the new joins with phx_ref_prev', async () => {
    const { send, a, b } = await room();
    send(a, track('2', { u: 'a' }));
    send(a, track('3', { u: 'a' }));
    await flush();
    expect(events(b, 'presence_diff')).toHaveLength(1);
    const ref = (events(b, 'presence_diff')[0] as { joins: { ka: { metas: Array<{ phx_ref: string }> } } })
      .joins.ka.metas[0]!.phx_ref;
    send(a, track('4', { u: 'a2' }));
    await flush();
    expect(events(b, 'presence_diff')[1]).toEqual({
      joins: { ka: { metas: [{ u: 'a2', phx_ref: expect.any(String), phx_ref_prev: ref }] } },
      leaves: { ka: { metas: [{ u: 'a', phx_ref: ref }] } },
    });
  });

  it('untrack, leaving and closing each remove the presence with a leave', async () => {
    const { send, socket, handler, a, b } = await room();
    send(a, track('2', { u: 'a' }));
    send(b, track('2', { u: 'b' }));
    await flush();
    send(a, untrack('3'));
    await flush();
    expect(events(b, 'presence_diff').at(-1)).toMatchObject({ joins: {}, leaves: { ka: {} } });
    send(b, ['1', '3', TOPIC, 'phx_leave', {}]);
    await flush();
    expect(events(a, 'presence_diff').at(-1)).toMatchObject({ joins: {}, leaves: { kb: {} } });
    const c = socket('2.0.0');
    send(c, joinFrame({ enabled: true, key: 'kc' }));
    await flush();
    send(c, track('2', { u: 'c' }));
    await flush();
    handler.onClose(c as unknown as WebSocket<SocketData>);
    await flush();
    expect(events(a, 'presence_diff').at(-1)).toMatchObject({ joins: {}, leaves: { kc: {} } });
  });

  it('a late joiner gets the whole state; two sockets with one key are two metas under it; an empty key is a fresh id', async () => {
    const { send, socket, a, b } = await room();
    const a2 = socket('1.0.0');
    send(a2, {
      topic: TOPIC,
      event: 'phx_join',
      payload: { config: { presence: { enabled: true, key: 'ka' } } },
      ref: '1',
      join_ref: '1',
    });
    await flush();
    send(a, track('2', { n: 1 }));
    send(a2, {
      topic: TOPIC,
      event: 'presence',
      payload: { type: 'presence', event: 'TRACK', payload: { n: 2 } },
      ref: '2',
      join_ref: '1',
    });
    send(b, track('2', { n: 3 }));
    await flush();
    const late = socket('2.0.0');
    send(late, joinFrame({ enabled: true, key: '' }));
    await flush();
    const [state] = events(late, 'presence_state') as Array<Record<string, { metas: Array<{ n: number }> }>>;
    expect(Object.keys(state!).sort()).toEqual(['ka', 'kb']);
    expect(state!.ka!.metas.map((m) => m.n).sort()).toEqual([1, 2]);
    send(late, track('2', {}));
    await flush();
    const [diff] = events(a, 'presence_diff').slice(-1) as Array<{ joins: Record<string, unknown> }>;
    expect(Object.keys(diff!.joins)[0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('a payload that is not an object is refused with the reference reason; the socket and channel stay', async () => {
    const { send, a } = await room();
    send(a, track('2', 'x'));
    await flush();
    expect(frames(a).at(-1)).toEqual([
      '1',
      '2',
      TOPIC,
      'phx_reply',
      { status: 'error', response: { reason: 'Presence track payload must be a map' } },
    ]);
    expect(a.data.channels.size).toBe(1);
  });

  it('the sixth call in the window gets "Client presence rate limit exceeded" and the channel closes', async () => {
    const { send, a } = await room();
    for (let i = 0; i < 6; i++) send(a, track(String(10 + i), { i }));
    for (let i = 0; i < 10; i++) await flush(); // each track waits for the store before the next
    expect(events(a, 'system')).toContainEqual(
      expect.objectContaining({ message: 'Client presence rate limit exceeded', status: 'error' }),
    );
    expect(frames(a).at(-1)).toEqual(['1', '1', TOPIC, 'phx_close', {}]);
    expect(a.data.channels.size).toBe(0);
  });

  it('a payload over MAX_PRESENCE_BYTES gets "Track message size exceeded" and the channel closes', async () => {
    const { send, a } = await room({ presence: { maxBytes: 100 } });
    send(a, track('2', { s: 'x'.repeat(200) }));
    await flush();
    expect(events(a, 'system')).toContainEqual(
      expect.objectContaining({ message: 'Track message size exceeded' }),
    );
    expect(a.data.channels.size).toBe(0);
  });

  it('a first track enables presence on a channel that did not ask for it', async () => {
    const { send, socket, a } = await room();
    const quiet = socket('2.0.0');
    send(quiet, joinFrame({ enabled: false, key: 'kq' }));
    await flush();
    expect(events(quiet, 'presence_state')).toEqual([]);
    send(quiet, track('2', { q: 1 }));
    await flush();
    expect(events(quiet, 'presence_diff')).toHaveLength(1);
    expect(events(a, 'presence_diff')).toHaveLength(1);
  });

  it('PRIVATE_ONLY refuses public joins, legacy ones too, with the reference reason', async () => {
    const { send, socket } = setup({ privateOnly: true });
    const ws = socket('2.0.0');
    send(ws, joinFrame());
    send(ws, ['2', '2', 'realtime:public:users', 'phx_join', {}]);
    await flush();
    const refusal = {
      status: 'error',
      response: { reason: 'PrivateOnly: This project only allows private channels' },
    };
    expect(frames(ws).map((f) => f[4])).toEqual([refusal, refusal]);
  });
});
