// Phoenix channel semantics in both serialisers (docs/protocol.md P1–P4, C1–C4, L2):
// heartbeats, join and leave replies with the right refs, `system` after the join, `phx_close` with
// the join ref, unrouted topics, topic and filter errors, duplicate joins, `access_token` and unknown
// events, and that a join's ok reply means changes committed after it are delivered.
import {
  type WalcastStack,
  waitFor,
  type Backends,
  type PhoenixFrame,
  type PhoenixTestClient,
} from '@walcast/test-utils';

import {
  ClientPool,
  RawTcpWebSocket,
  expectNoFrame,
  joinChangeMarker,
  expectSilence,
  insertUser,
  isChangeFor,
  isErrorReply,
  startUsersStack,
  stopUsersStack,
} from './support';

jest.setTimeout(60_000);

const USERS = 'realtime:public:users';

let backends: Backends;
let stack: WalcastStack;
const pool = new ClientPool(() => stack);

beforeAll(async () => {
  ({ backends, stack } = await startUsersStack({ gateways: 1 }));
});

afterEach(() => pool.closeAll());

afterAll(() => stopUsersStack(pool, stack, backends), 30_000);

/** The frame's text parsed, to compare it whole (including keys that must be absent). */
function wire(frame: PhoenixFrame): unknown {
  return JSON.parse(String(frame.raw));
}

function byRef(topic: string, ref: string, event = 'phx_reply'): (f: PhoenixFrame) => boolean {
  return (f) => f.topic === topic && f.event === event && f.ref === ref;
}

const SUBSCRIBED = {
  channel: 'public:users',
  extension: 'postgres_changes',
  message: 'Subscribed to PostgreSQL',
  status: 'ok',
};

/** SUBSCRIBED as `frame` carries it: with `position` once the gateway has heard one (protocol R1). */
function subscribedAs(frame: PhoenixFrame): Record<string, unknown> {
  const heard = 'position' in (frame.payload as Record<string, unknown>);
  return heard
    ? { ...SUBSCRIBED, position: expect.stringMatching(/^[0-9A-F]{16}-[0-9A-F]{8}$/) }
    : SUBSCRIBED;
}

describe('heartbeat', () => {
  it('vsn 1.0.0: replies ok {} on phoenix with the same ref and no join_ref', async () => {
    const client = await pool.open({ vsn: '1.0.0' });
    client.sendRaw('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"hb-7"}');
    const reply = await client.next(byRef('phoenix', 'hb-7'));
    expect(wire(reply)).toStrictEqual({
      topic: 'phoenix',
      event: 'phx_reply',
      payload: { status: 'ok', response: {} },
      ref: 'hb-7',
    });
  });

  it('vsn 1.0.0: a heartbeat carrying a join_ref is still answered without join_ref', async () => {
    const client = await pool.open({ vsn: '1.0.0' });
    client.sendRaw('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"9","join_ref":"3"}');
    const reply = await client.next(byRef('phoenix', '9'));
    expect(wire(reply)).toStrictEqual({
      topic: 'phoenix',
      event: 'phx_reply',
      payload: { status: 'ok', response: {} },
      ref: '9',
    });
  });

  it('vsn 2.0.0: replies [null, ref, "phoenix", "phx_reply", ok {}]', async () => {
    const client = await pool.open({ vsn: '2.0.0' });
    client.sendRaw('[null,"hb-8","phoenix","heartbeat",{}]');
    const reply = await client.next(byRef('phoenix', 'hb-8'));
    expect(wire(reply)).toStrictEqual([null, 'hb-8', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  });

  it('vsn 2.0.0: ignores extra array elements after the payload', async () => {
    const client = await pool.open({ vsn: '2.0.0' });
    client.sendRaw('[null,"hb-9","phoenix","heartbeat",{},"extra",1]');
    const reply = await client.next(byRef('phoenix', 'hb-9'));
    expect(wire(reply)).toStrictEqual([null, 'hb-9', 'phoenix', 'phx_reply', { status: 'ok', response: {} }]);
  });
});

describe('join and leave, vsn 1.0.0', () => {
  it('join reply reuses the ref, `system` follows, leave replies then closes with the join ref', async () => {
    const client = await pool.open({ vsn: '1.0.0' });
    client.sendRaw(`{"topic":"${USERS}","event":"phx_join","payload":{},"ref":"j1","join_ref":"j1"}`);
    const reply = await client.next(byRef(USERS, 'j1'));
    expect(wire(reply)).toStrictEqual({
      topic: USERS,
      event: 'phx_reply',
      payload: { status: 'ok', response: {} },
      ref: 'j1',
    });
    const system = await client.next((f) => f.topic === USERS && f.event === 'system');
    expect(wire(system)).toStrictEqual({
      topic: USERS,
      event: 'system',
      payload: subscribedAs(system),
      ref: null,
    });
    expect(client.frames.indexOf(system)).toBeGreaterThan(client.frames.indexOf(reply));

    const id = await insertUser(backends.pg.url);
    const change = await client.next(isChangeFor(USERS, 'INSERT', id));
    expect(change.ref).toBeNull();
    expect(wire(change)).not.toHaveProperty('join_ref');

    client.sendRaw(`{"topic":"${USERS}","event":"phx_leave","payload":{},"ref":"l1","join_ref":"j1"}`);
    const leave = await client.next(byRef(USERS, 'l1'));
    expect(wire(leave)).toStrictEqual({
      topic: USERS,
      event: 'phx_reply',
      payload: { status: 'ok', response: {} },
      ref: 'l1',
    });
    const close = await client.next((f) => f.topic === USERS && f.event === 'phx_close');
    expect(wire(close)).toStrictEqual({ topic: USERS, event: 'phx_close', payload: {}, ref: 'j1' });
    expect(client.frames.indexOf(close)).toBeGreaterThan(client.frames.indexOf(leave));

    // Left for good: no more changes (a marker channel's later change arrives after any).
    const marker = await joinChangeMarker(client, backends.pg.url);
    const after = await insertUser(backends.pg.url);
    await expectNoFrame(client, isChangeFor(USERS, 'INSERT', after), marker);
  });

  it('a join without join_ref (realtime-js 1.0) uses its ref as the join ref in phx_close', async () => {
    const client = await pool.open({ vsn: '1.0.0' });
    client.sendRaw(`{"topic":"${USERS}","event":"phx_join","payload":{},"ref":"5"}`);
    expect((await client.next(byRef(USERS, '5'))).payload).toEqual({ status: 'ok', response: {} });
    client.sendRaw(`{"topic":"${USERS}","event":"phx_leave","payload":{},"ref":"6"}`);
    await client.next(byRef(USERS, '6'));
    const close = await client.next((f) => f.topic === USERS && f.event === 'phx_close');
    expect(wire(close)).toStrictEqual({ topic: USERS, event: 'phx_close', payload: {}, ref: '5' });
  });
});

describe('join and leave, vsn 2.0.0', () => {
  it('reply [join_ref, ref, …], system [join_ref, null, …], leave then [join_ref, join_ref, …, "phx_close", {}]', async () => {
    const client = await pool.open({ vsn: '2.0.0' });
    client.sendRaw(`["4","4","${USERS}","phx_join",{}]`);
    const reply = await client.next(byRef(USERS, '4'));
    expect(wire(reply)).toStrictEqual(['4', '4', USERS, 'phx_reply', { status: 'ok', response: {} }]);
    const system = await client.next((f) => f.topic === USERS && f.event === 'system');
    expect(wire(system)).toStrictEqual(['4', null, USERS, 'system', subscribedAs(system)]);
    expect(client.frames.indexOf(system)).toBeGreaterThan(client.frames.indexOf(reply));

    const id = await insertUser(backends.pg.url);
    const change = await client.next(isChangeFor(USERS, 'INSERT', id));
    expect((wire(change) as unknown[]).slice(0, 4)).toEqual([null, null, USERS, 'INSERT']);

    client.sendRaw(`["4","11","${USERS}","phx_leave",{}]`);
    const leave = await client.next(byRef(USERS, '11'));
    expect(wire(leave)).toStrictEqual(['4', '11', USERS, 'phx_reply', { status: 'ok', response: {} }]);
    const close = await client.next((f) => f.topic === USERS && f.event === 'phx_close');
    expect(wire(close)).toStrictEqual(['4', '4', USERS, 'phx_close', {}]);
    expect(client.frames.indexOf(close)).toBeGreaterThan(client.frames.indexOf(leave));

    const marker = await joinChangeMarker(client, backends.pg.url);
    const after = await insertUser(backends.pg.url);
    await expectNoFrame(client, isChangeFor(USERS, 'INSERT', after), marker);
  });
});

describe.each(['1.0.0', '2.0.0'] as const)('errors and ignored events, vsn %s', (vsn) => {
  async function open(): Promise<PhoenixTestClient> {
    return pool.open({ vsn });
  }

  it('leave of a topic that is not joined → ok {} and no phx_close', async () => {
    const client = await open();
    for (const topic of [USERS, 'foo']) {
      const ref = client.send({ topic, event: 'phx_leave', payload: {} })!;
      expect((await client.next(byRef(topic, ref))).payload).toEqual({ status: 'ok', response: {} });
    }
    await expectNoFrame(client, (f) => f.event === 'phx_close');
  });

  it('join of a topic without the realtime: prefix → error "unmatched topic"', async () => {
    const client = await open();
    const reply = await client.join('foo');
    expect(reply.payload).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
    expect(reply.joinRef).toBe(vsn === '2.0.0' ? reply.ref : null);
    await expectNoFrame(client, (f) => f.topic === 'foo' && f.event !== 'phx_reply');
  });

  it.each([
    [USERS, 'access_token'],
    [USERS, 'broadcast'],
    [USERS, 'presence'],
    ['foo', 'custom'],
    ['phoenix', 'something'],
  ])('%s / %s on a topic that is not joined → error "unmatched topic"', async (topic, event) => {
    const client = await open();
    const ref = client.send({ topic, event, payload: { access_token: 'x' } })!;
    const reply = await client.next(byRef(topic, ref));
    expect(reply.payload).toEqual({ status: 'error', response: { reason: 'unmatched topic' } });
  });

  it('join of "realtime:" → error TopicNameRequired', async () => {
    const client = await open();
    const reply = await client.join('realtime:');
    expect(isErrorReply('TopicNameRequired:', 'realtime:')(reply)).toBe(true);
  });

  it.each([
    'realtime:public:users:id=like2.x',
    'realtime:public:users:id=eq.',
    'realtime:public:users:id',
    'realtime:public:users:id=in.1,2',
  ])('join of %s → error InvalidFilter, and no channel is left behind', async (topic) => {
    const client = await open();
    const reply = await client.join(topic);
    expect(reply.payload.status).toBe('error');
    expect(reply.payload.response.reason).toMatch(/^InvalidFilter: /);
    // A failed join leaves nothing: pushes on the topic are "unmatched topic", leave is ok {}.
    const ref = client.send({ topic, event: 'access_token', payload: { access_token: 'x' } })!;
    expect((await client.next(byRef(topic, ref))).payload.response).toEqual({ reason: 'unmatched topic' });
  });

  it('join of realtime:public: (no table) → error InvalidTopic', async () => {
    const client = await open();
    const reply = await client.join('realtime:public:');
    expect(isErrorReply('InvalidTopic:', 'realtime:public:')(reply)).toBe(true);
  });

  it('a duplicate join closes the old join ref, then replies ok, and changes arrive exactly once', async () => {
    const client = await open();
    const first = await client.join(USERS);
    expect(first.payload.status).toBe('ok');
    const oldRef = first.ref!;
    const second = await client.join(USERS);
    expect(second.payload).toEqual({ status: 'ok', response: {} });
    const close = client.framesFor(USERS, 'phx_close');
    expect(close).toHaveLength(1);
    expect(close[0]!.ref).toBe(oldRef);
    if (vsn === '2.0.0') expect(wire(close[0]!)).toStrictEqual([oldRef, oldRef, USERS, 'phx_close', {}]);
    else
      expect(wire(close[0]!)).toStrictEqual({ topic: USERS, event: 'phx_close', payload: {}, ref: oldRef });
    expect(client.frames.indexOf(close[0]!)).toBeLessThan(client.frames.indexOf(second));
    // The system message of the new join carries the new join ref (V2) and comes after its reply.
    const newSystem = await client.next(
      (f) =>
        f.topic === USERS && f.event === 'system' && client.frames.indexOf(f) > client.frames.indexOf(second),
    );
    if (vsn === '2.0.0') expect(newSystem.joinRef).toBe(second.ref);

    const id = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', id));
    // A duplicate would arrive before the next change.
    const later = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', later));
    expect(client.frames.filter(isChangeFor(USERS, 'INSERT', id))).toHaveLength(1);
  });

  it('a duplicate join while another socket holds the channel also delivers exactly once', async () => {
    const other = await open();
    expect((await other.join(USERS)).payload.status).toBe('ok');
    const client = await open();
    expect((await client.join(USERS)).payload.status).toBe('ok');
    expect((await client.join(USERS)).payload.status).toBe('ok');
    const id = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', id));
    await other.next(isChangeFor(USERS, 'INSERT', id));
    // A duplicate would arrive before the next change.
    const later = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', later));
    await other.next(isChangeFor(USERS, 'INSERT', later));
    expect(client.frames.filter(isChangeFor(USERS, 'INSERT', id))).toHaveLength(1);
    expect(other.frames.filter(isChangeFor(USERS, 'INSERT', id))).toHaveLength(1);
  });

  it('access_token on a joined channel gets no reply and the channel keeps receiving', async () => {
    const client = await open();
    expect((await client.join(USERS)).payload.status).toBe('ok');
    await client.next((f) => f.topic === USERS && f.event === 'system');
    client.send({ topic: USERS, event: 'access_token', payload: { access_token: 'not-even-a-jwt' } });
    await expectSilence(client);
    const id = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', id));
    expect(client.framesFor(USERS, 'phx_reply')).toHaveLength(1); // only the join's
    expect(client.framesFor(USERS, 'phx_error')).toHaveLength(0);
  });

  it('an unknown event on a joined channel is ignored and the channel keeps working', async () => {
    const client = await open();
    expect((await client.join(USERS)).payload.status).toBe('ok');
    await client.next((f) => f.topic === USERS && f.event === 'system');
    client.send({ topic: USERS, event: 'whatever', payload: { x: 1 } });
    client.send({ topic: USERS, event: 'heartbeat', payload: {} });
    await expectSilence(client);
    const id = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', id));
    expect((await client.heartbeat()).payload.status).toBe('ok');
  });
});

describe('a join reply means changes flow', () => {
  it.each(['1.0.0', '2.0.0'] as const)(
    'vsn %s: a row inserted right after the ok reply is delivered (20 fresh sockets)',
    async (vsn) => {
      for (let i = 0; i < 20; i++) {
        const client = await pool.open({ vsn });
        const topic = i % 2 === 0 ? USERS : `${USERS}:name=eq.race${vsn}`;
        const reply = await client.join(topic);
        expect(reply.payload.status).toBe('ok');
        const id = await insertUser(backends.pg.url, `race${vsn}`);
        await client.next(isChangeFor(topic, 'INSERT', id), 5000);
        await client.terminate();
      }
    },
  );

  it('a join on a second socket while the first is leaving is live at its reply', async () => {
    for (let i = 0; i < 10; i++) {
      const a = await pool.open();
      expect((await a.join(USERS)).payload.status).toBe('ok');
      const b = await pool.open({ vsn: '2.0.0' });
      void a.leave(USERS);
      const reply = await b.join(USERS);
      expect(reply.payload.status).toBe('ok');
      const id = await insertUser(backends.pg.url);
      await b.next(isChangeFor(USERS, 'INSERT', id), 5000);
      await Promise.all([a.terminate(), b.terminate()]);
    }
  });
});

// Frames that reach the gateway in one TCP read are handled back to back, with no event-loop turn
// in between, so a join is still waiting for its Redis subscription when the next frame is read.
// Phoenix handles a socket's frames in order and a join is answered before the next frame is
// handled (docs/protocol.md C2: a superseded join is still answered, in order).
// Each test uses a topic nobody else joined, so its bus subscription is new and not yet live.
describe('frames handled in the same read as a pending join', () => {
  async function batch(topic: string, ...frames: string[]): Promise<RawTcpWebSocket> {
    const raw = await RawTcpWebSocket.open(stack.gatewayPorts[0]!, '/socket/websocket?vsn=2.0.0');
    raw.sendTexts(...frames.map((f) => f.replaceAll('TOPIC', topic)));
    return raw;
  }

  function isFrame(frame: unknown, event: string, ref: string): boolean {
    return Array.isArray(frame) && frame[3] === event && frame[1] === ref;
  }

  // Sent in one TCP write: a join and its leave; the join must still be answered, first.
  it('a leave right behind a join: the join is answered before the leave', async () => {
    const topic = 'realtime:public:pipelined_leave';
    const raw = await batch(topic, '["1","1","TOPIC","phx_join",{}]', '["1","2","TOPIC","phx_leave",{}]');
    try {
      await waitFor(() => raw.json().some((f) => isFrame(f, 'phx_close', '1')), { message: 'phx_close' });
      const frames = raw.json();
      const joinReply = frames.findIndex((f) => isFrame(f, 'phx_reply', '1'));
      const leaveReply = frames.findIndex((f) => isFrame(f, 'phx_reply', '2'));
      expect(leaveReply).toBeGreaterThanOrEqual(0);
      expect(joinReply).toBeGreaterThanOrEqual(0);
      expect(joinReply).toBeLessThan(leaveReply);
    } finally {
      raw.destroy();
    }
  });

  // Sent in one TCP write: two joins of the same topic; each is answered, in order.
  it('a duplicate join right behind a join: the first join is answered before its phx_close', async () => {
    const topic = 'realtime:public:pipelined_rejoin';
    const raw = await batch(topic, '["1","1","TOPIC","phx_join",{}]', '["3","3","TOPIC","phx_join",{}]');
    try {
      await waitFor(() => raw.json().some((f) => isFrame(f, 'phx_reply', '3')), { message: 'reply to 3' });
      const frames = raw.json();
      const firstReply = frames.findIndex((f) => isFrame(f, 'phx_reply', '1'));
      const close = frames.findIndex((f) => isFrame(f, 'phx_close', '1'));
      expect(close).toBeGreaterThanOrEqual(0);
      expect(firstReply).toBeGreaterThanOrEqual(0);
      expect(firstReply).toBeLessThan(close);
    } finally {
      raw.destroy();
    }
  });

  it('an access_token right behind a join gets no reply; the join and a heartbeat are answered', async () => {
    const topic = 'realtime:public:pipelined_token';
    const raw = await batch(
      topic,
      '["1","1","TOPIC","phx_join",{}]',
      '["1","2","TOPIC","access_token",{"access_token":"x"}]',
      '[null,"3","phoenix","heartbeat",{}]',
    );
    try {
      await waitFor(() => raw.json().some((f) => isFrame(f, 'phx_reply', '1')), { message: 'join reply' });
      // The heartbeat was sent after the access_token: once its reply is in, so is anything for ref 2.
      await waitFor(() => raw.json().some((f) => isFrame(f, 'phx_reply', '3')), {
        message: 'heartbeat reply',
      });
      const frames = raw.json();
      expect(frames.find((f) => isFrame(f, 'phx_reply', '1'))).toEqual([
        '1',
        '1',
        topic,
        'phx_reply',
        { status: 'ok', response: {} },
      ]);
      expect(frames.some((f) => isFrame(f, 'phx_reply', '3'))).toBe(true);
      expect(frames.filter((f) => Array.isArray(f) && f[1] === '2')).toEqual([]);
    } finally {
      raw.destroy();
    }
  });
});
