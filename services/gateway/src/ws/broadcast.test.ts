// Broadcast in the channel core (see channel-core-kit.ts): frames per protocol version, self and
// ack, the size and rate limits, namespaces, binary frames good and bad, messages from the bus.
import { encodeBroadcastMessage, topicForBroadcast, type BroadcastHeader } from '@walcast/protocol';
import { flush, setup, type FakeSocket } from './channel-core-kit';

const TOPIC = 'realtime:room';
const join = (config: Record<string, unknown> = {}) => ({ config: { postgres_changes: [], ...config } });
const v2Join = (config: Record<string, unknown> = {}) => ['1', '1', TOPIC, 'phx_join', join(config)];
const v1Join = (config: Record<string, unknown> = {}) => ({
  topic: TOPIC,
  event: 'phx_join',
  payload: join(config),
  ref: '1',
  join_ref: '1',
});

/** Decodes a kind-4 frame. */
function kind4(frame: unknown): {
  topic: string;
  event: string;
  meta: string;
  json: boolean;
  payload: Buffer;
} {
  const b = Buffer.from(frame as Uint8Array);
  expect(b[0]).toBe(4);
  const [t, e, m, enc] = [b[1]!, b[2]!, b[3]!, b[4]!];
  let at = 5;
  const take = (n: number): Buffer => b.subarray(at, (at += n));
  return {
    topic: take(t).toString(),
    event: take(e).toString(),
    meta: take(m).toString(),
    json: enc === 1,
    payload: b.subarray(at),
  };
}

async function room(opts: Parameters<typeof setup>[0] = {}, config: Record<string, unknown> = {}) {
  const kit = setup(opts);
  const sender = kit.socket('2.0.0');
  const v2 = kit.socket('2.0.0');
  const v1 = kit.socket('1.0.0');
  kit.send(sender, v2Join(config));
  kit.send(v2, v2Join());
  kit.send(v1, v1Join());
  await flush();
  for (const ws of [sender, v2, v1]) ws.sent.length = 0;
  return { ...kit, sender, v2, v1 };
}

describe('broadcast', () => {
  it('a JSON push reaches every other member as the text frame with the client map unchanged; not the sender', async () => {
    const { send, sender, v2, v1 } = await room();
    const map = { type: 'broadcast', event: 'cursor', payload: { x: 1 }, extra: true };
    send(sender, ['1', '2', TOPIC, 'broadcast', map]);
    await flush();
    expect(v2.frames()).toEqual([[null, null, TOPIC, 'broadcast', map]]);
    expect(v1.frames()).toEqual([{ topic: TOPIC, event: 'broadcast', payload: map, ref: null }]);
    expect(sender.frames()).toEqual([]); // self false, ack false: nothing at all
  });

  it('a kind-3 JSON push reaches vsn 2.0.0 members as kind 4 and vsn 1.0.0 members as the converted map', async () => {
    const { sendBinary, sender, v2, v1 } = await room();
    sendBinary(sender, {
      joinRef: '1',
      ref: '2',
      topic: TOPIC,
      event: 'cursor',
      meta: null,
      json: true,
      payload: Buffer.from('{"x":1}'),
    });
    await flush();
    expect(v2.sent).toHaveLength(1);
    expect(kind4(v2.sent[0])).toEqual({
      topic: TOPIC,
      event: 'cursor',
      meta: '',
      json: true,
      payload: Buffer.from('{"x":1}'),
    });
    expect(v1.frames()).toEqual([
      {
        topic: TOPIC,
        event: 'broadcast',
        payload: { event: 'cursor', payload: { x: 1 }, type: 'broadcast' },
        ref: null,
      },
    ]);
  });

  it('a binary payload reaches vsn 2.0.0 members as kind 4 with encoding 0, and vsn 1.0.0 members not at all', async () => {
    const { sendBinary, sender, v2, v1 } = await room();
    const bytes = Buffer.from([0, 1, 2, 255, 10]);
    sendBinary(sender, {
      joinRef: '1',
      ref: '2',
      topic: TOPIC,
      event: 'blob',
      meta: null,
      json: false,
      payload: bytes,
    });
    await flush();
    expect(kind4(v2.sent[0])).toMatchObject({ event: 'blob', json: false, payload: bytes });
    expect(v1.sent).toEqual([]);
  });

  it('self: true delivers to the sender too; ack: true replies ok once the bus accepted it', async () => {
    const { send, sender } = await room({}, { broadcast: { self: 'true', ack: true } });
    send(sender, ['1', '7', TOPIC, 'broadcast', { type: 'broadcast', event: 'e', payload: {} }]);
    await flush();
    expect(sender.frames()).toHaveLength(2);
    // The ack and the sender's own copy travel separately; either may come first.
    expect(sender.frames()).toEqual(
      expect.arrayContaining([
        [null, null, TOPIC, 'broadcast', { type: 'broadcast', event: 'e', payload: {} }],
        ['1', '7', TOPIC, 'phx_reply', { status: 'ok', response: {} }],
      ]),
    );
  });

  it('over MAX_BROADCAST_BYTES: an ack’d push is answered payload_size_exceeded, others are dropped', async () => {
    const { send, sender, v2, metrics } = await room(
      { limits: { maxBroadcastBytes: 100 } },
      { broadcast: { ack: true } },
    );
    send(sender, [
      '1',
      '3',
      TOPIC,
      'broadcast',
      { type: 'broadcast', event: 'e', payload: { s: 'x'.repeat(200) } },
    ]);
    await flush();
    expect(sender.frames()).toEqual([
      ['1', '3', TOPIC, 'phx_reply', { status: 'error', response: 'payload_size_exceeded' }],
    ]);
    expect(v2.sent).toEqual([]);
    const dropped = await metrics.broadcastsDropped.get();
    expect(dropped.values.find((v) => v.labels.reason === 'too_large')?.value).toBe(1);
  });

  it('past the channel rate the channel gets the system error and is closed; the socket stays', async () => {
    const { send, sender, v2 } = await room({ limits: { maxChannelBroadcastsPerSecond: 2 } });
    for (let i = 0; i < 3; i++)
      send(sender, [
        '1',
        String(10 + i),
        TOPIC,
        'broadcast',
        { type: 'broadcast', event: 'e', payload: { i } },
      ]);
    await flush();
    expect(v2.frames()).toHaveLength(2);
    expect(sender.frames()).toEqual([
      [
        '1',
        null,
        TOPIC,
        'system',
        { channel: 'room', extension: 'broadcast', message: 'Too many messages per second', status: 'error' },
      ],
      ['1', '1', TOPIC, 'phx_close', {}],
    ]);
    expect(sender.data.channels.size).toBe(0);
    expect(sender.ended).toBeNull();
  });

  it('past the socket rate the socket is closed with 4005', async () => {
    const { send, sender } = await room({ limits: { maxSocketBroadcastsPerSecond: 1 } });
    send(sender, ['1', '2', TOPIC, 'broadcast', { type: 'broadcast', event: 'e', payload: {} }]);
    send(sender, ['1', '3', TOPIC, 'broadcast', { type: 'broadcast', event: 'e', payload: {} }]);
    expect(sender.ended).toBe(4005);
  });

  it('garbage binary frames are answered with ProtocolViolation; the socket and the others carry on', async () => {
    const { sendBinary, send, sender, v2 } = await room();
    sendBinary(sender, new Uint8Array([3, 1, 1, 200, 1, 0, 1])); // lengths past the end
    sendBinary(sender, new Uint8Array([9, 0, 0]));
    sendBinary(sender, {
      joinRef: '1',
      ref: '5',
      topic: TOPIC,
      event: 'e',
      meta: null,
      json: true,
      payload: Buffer.from('{nope'),
    });
    await flush();
    const replies = sender.frames() as unknown[][];
    expect(replies).toHaveLength(3);
    for (const r of replies) expect(JSON.stringify(r)).toContain('ProtocolViolation');
    expect(v2.sent).toEqual([]);
    send(sender, ['1', '6', TOPIC, 'broadcast', { type: 'broadcast', event: 'e', payload: {} }]);
    await flush();
    expect(v2.sent).toHaveLength(1);
  });

  it('a push on a topic the socket has not joined is answered unmatched topic', async () => {
    const { sendBinary, sender } = await room();
    sendBinary(sender, {
      joinRef: '1',
      ref: '5',
      topic: 'realtime:other',
      event: 'e',
      meta: null,
      json: true,
      payload: Buffer.from('{}'),
    });
    await flush();
    expect(sender.frames()).toEqual([
      ['1', '5', 'realtime:other', 'phx_reply', { status: 'error', response: { reason: 'unmatched topic' } }],
    ]);
  });

  it('messages from the bus reach the group; the gateway’s own come back and are skipped', async () => {
    const { bus, broadcasts, v2, v1 } = await room();
    const header = (src: string): BroadcastHeader => ({
      v: 1,
      src,
      shape: 'user',
      event: 'db',
      enc: 'json',
      meta: { id: 'abc' },
    });
    await bus.publish(
      topicForBroadcast('room', false),
      encodeBroadcastMessage(header('ingester'), '{"a":1,"id":"abc"}'),
    );
    await bus.publish(
      topicForBroadcast('room', false),
      encodeBroadcastMessage(header(broadcasts.src), '{"a":2}'),
    );
    await bus.publish(topicForBroadcast('room', true), encodeBroadcastMessage(header('ingester'), '{"a":3}'));
    await flush();
    expect(v1.frames()).toEqual([
      {
        topic: TOPIC,
        event: 'broadcast',
        payload: { event: 'db', payload: { a: 1, id: 'abc' }, type: 'broadcast', meta: { id: 'abc' } },
        ref: null,
      },
    ]);
    expect(v2.sent).toHaveLength(1);
    expect(kind4(v2.sent[0])).toMatchObject({ event: 'db', meta: '{"id":"abc"}' });
  });

  it('with SECURE_CHANNELS on but no database, a private join is refused with a clear reason', async () => {
    const verifier = {
      verify: () => Promise.resolve({ claims: { role: 'authenticated' }, expiresAtMs: Date.now() + 60_000 }),
    };
    const { send, socket } = setup({ verifier });
    const ws: FakeSocket = socket('2.0.0');
    send(ws, ['1', '1', TOPIC, 'phx_join', { ...join({ private: true }), access_token: 'x' }]);
    await flush();
    expect(JSON.stringify(ws.frames())).toContain('PrivateChannelUnavailable');
  });

  it('with channels open, a private channel is served, apart from the public one of the same name', async () => {
    const { send, socket } = setup();
    const [priv, pub, sender] = [socket('2.0.0'), socket('2.0.0'), socket('2.0.0')];
    send(priv, v2Join({ private: true }));
    send(pub, v2Join());
    send(sender, v2Join({ private: true }));
    await flush();
    expect(priv.frames()).toEqual([
      ['1', '1', TOPIC, 'phx_reply', { status: 'ok', response: { postgres_changes: [] } }],
    ]);
    priv.sent.length = 0;
    pub.sent.length = 0;
    send(sender, ['1', '2', TOPIC, 'broadcast', { type: 'broadcast', event: 'e', payload: { secret: 1 } }]);
    await flush();
    expect(priv.sent).toHaveLength(1);
    expect(pub.sent).toEqual([]);
  });

  it('replay needs a database', async () => {
    const { send, socket } = setup();
    const ws = socket('2.0.0');
    send(ws, v2Join({ private: true, broadcast: { replay: { since: 0 } } }));
    await flush();
    expect(JSON.stringify(ws.frames())).toContain('UnableToReplayMessages');
  });

  it('with several senders, each receives the others’ messages and never its own', async () => {
    const { send, sender, v2, v1 } = await room();
    const push = (ws: FakeSocket, n: number) =>
      send(
        ws,
        ws === v1
          ? {
              topic: TOPIC,
              event: 'broadcast',
              payload: { type: 'broadcast', event: 'e', payload: { n } },
              ref: String(n),
              join_ref: '1',
            }
          : ['1', String(n), TOPIC, 'broadcast', { type: 'broadcast', event: 'e', payload: { n } }],
      );
    push(sender, 1);
    push(v2, 2);
    push(sender, 3);
    push(v1, 4);
    await flush();
    const ns = (ws: FakeSocket) => ws.frames().map((f) => JSON.stringify(f).match(/"n":(\d)/)?.[1]);
    expect(ns(sender)).toEqual(['2', '4']);
    expect(ns(v2)).toEqual(['1', '3', '4']);
    expect(ns(v1)).toEqual(['1', '2', '3']);
  });

  it('leaving releases the broadcast subscription', async () => {
    const { send, sender, v2, v1, subscriptions, broadcasts } = await room();
    for (const ws of [sender, v2]) send(ws, ['1', '9', TOPIC, 'phx_leave', {}]);
    send(v1, { topic: TOPIC, event: 'phx_leave', payload: {}, ref: '9' });
    await flush();
    expect(broadcasts.groupCount).toBe(0);
    expect(subscriptions.size).toBe(0);
  });
});
