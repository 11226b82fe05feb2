// A client fault is answered to that client only (error-codes ProtocolViolation): a `phx_reply`
// error whose reason starts `ProtocolViolation:`, the socket stays open, and other clients of the
// same gateway are unaffected. Only a frame over MAX_FRAME_SIZE ends a socket, and only that one.
import {
  type WalcastStack,
  type Backends,
  type PhoenixFrame,
  type PhoenixTestClient,
  type PhoenixVsn,
} from '@walcast/test-utils';

import {
  ClientPool,
  addGateway,
  insertUser,
  isChangeFor,
  isErrorReply,
  startUsersStack,
  stopUsersStack,
} from './support';

jest.setTimeout(60_000);

const USERS = 'realtime:public:users';
const MAX_FRAME = 1024;

let backends: Backends;
let stack: WalcastStack;
/** Index of the gateway started with MAX_FRAME_SIZE=1024. */
let smallFrames: number;
const pool = new ClientPool(() => stack);

beforeAll(async () => {
  ({ backends, stack } = await startUsersStack({ gateways: 1 }));
  smallFrames = await addGateway(stack, { MAX_FRAME_SIZE: String(MAX_FRAME) });
});

afterEach(() => pool.closeAll());

afterAll(() => stopUsersStack(pool, stack, backends), 30_000);

/** A client of `gateway` joined to the users table, to show that others keep being served. */
async function watcher(gateway = 0, vsn: PhoenixVsn = '2.0.0'): Promise<PhoenixTestClient> {
  const client = await pool.open({ gateway, vsn });
  expect((await client.join(USERS)).payload.status).toBe('ok');
  return client;
}

/** The offender still works and the watcher still gets changes. */
async function expectUnaffected(offender: PhoenixTestClient, other: PhoenixTestClient): Promise<void> {
  expect(offender.isOpen).toBe(true);
  expect((await offender.heartbeat()).payload).toEqual({ status: 'ok', response: {} });
  const id = await insertUser(backends.pg.url);
  await other.next(isChangeFor(USERS, 'INSERT', id));
}

const violation = isErrorReply('ProtocolViolation:');

type Case = [name: string, vsn: PhoenixVsn, frame: string | Buffer, ref: string | null, topic: string];

const deepArray = '['.repeat(20_000) + ']'.repeat(20_000);

const cases: Case[] = [
  ['invalid JSON', '1.0.0', '{"topic":', null, 'phoenix'],
  ['invalid JSON', '2.0.0', '[null,"1",', null, 'phoenix'],
  ['an empty text frame', '1.0.0', '', null, 'phoenix'],
  ['a JSON array', '1.0.0', '[null,"1","phoenix","heartbeat",{}]', null, 'phoenix'],
  [
    'a JSON object',
    '2.0.0',
    '{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}',
    null,
    'phoenix',
  ],
  ['a JSON string', '1.0.0', '"heartbeat"', null, 'phoenix'],
  ['JSON null', '2.0.0', 'null', null, 'phoenix'],
  ['a four-element array', '2.0.0', '[null,"1","phoenix","heartbeat"]', null, 'phoenix'],
  ['a missing topic', '1.0.0', '{"event":"heartbeat","payload":{},"ref":"31"}', '31', 'phoenix'],
  ['a null topic', '2.0.0', '[null,"32",null,"heartbeat",{}]', '32', 'phoenix'],
  ['a missing event', '1.0.0', `{"topic":"${USERS}","payload":{},"ref":"33"}`, '33', USERS],
  ['a numeric event', '2.0.0', `[null,"34","${USERS}",7,{}]`, '34', USERS],
  ['a missing payload', '1.0.0', `{"topic":"${USERS}","event":"phx_join","ref":"35"}`, '35', USERS],
  [
    'an object ref',
    '1.0.0',
    '{"topic":"phoenix","event":"heartbeat","payload":{},"ref":{"a":1}}',
    null,
    'phoenix',
  ],
  ['a 20 000-deep array', '1.0.0', deepArray, null, 'phoenix'],
  ['a binary frame', '1.0.0', Buffer.from([3, 1, 1, 14, 6, 0, 1]), null, 'phoenix'],
  // realtime-js 2 sends user broadcasts as binary kind 3; walcast serves no broadcast and says so.
  ['a binary kind-3 broadcast', '2.0.0', Buffer.from([3, 1, 1, 14, 6, 0, 1]), null, 'phoenix'],
];

describe('malformed frames are answered, not fatal', () => {
  it.each(cases)('%s on vsn %s → ProtocolViolation error reply', async (_name, vsn, frame, ref, topic) => {
    const other = await watcher();
    const client = await pool.open({ vsn });
    client.sendRaw(frame);
    const reply = await client.next(violation);
    expect(reply.ref).toBe(ref);
    expect(reply.topic).toBe(topic);
    if (vsn === '2.0.0') expect(Array.isArray(JSON.parse(String(reply.raw)))).toBe(true);
    else expect(JSON.parse(String(reply.raw))).not.toHaveProperty('join_ref');
    expect(client.frames.filter((f) => f.binary)).toHaveLength(0);
    await expectUnaffected(client, other);
  });

  it('a burst of garbage gets one error reply per frame and the socket keeps its channels', async () => {
    const client = await pool.open({ vsn: '1.0.0' });
    expect((await client.join(USERS)).payload.status).toBe('ok');
    for (let i = 0; i < 50; i++) client.sendRaw(i % 2 === 0 ? 'garbage' : '[]');
    expect((await client.heartbeat()).payload.status).toBe('ok'); // frames are answered in order
    expect(client.frames.filter(violation)).toHaveLength(50);
    const id = await insertUser(backends.pg.url);
    await client.next(isChangeFor(USERS, 'INSERT', id));
  });
});

describe('numeric refs', () => {
  it('vsn 1.0.0: a numeric heartbeat ref is accepted and echoed as a string', async () => {
    const client = await pool.open({ vsn: '1.0.0' });
    client.sendRaw('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":5}');
    const reply = await client.next((f: PhoenixFrame) => f.event === 'phx_reply' && f.topic === 'phoenix');
    expect(JSON.parse(String(reply.raw))).toStrictEqual({
      topic: 'phoenix',
      event: 'phx_reply',
      payload: { status: 'ok', response: {} },
      ref: '5',
    });
  });

  it('vsn 2.0.0: numeric join_ref and ref are echoed as strings in the reply, system and phx_close', async () => {
    const client = await pool.open({ vsn: '2.0.0' });
    client.sendRaw(`[7,7,"${USERS}","phx_join",{}]`);
    const reply = await client.next((f) => f.event === 'phx_reply' && f.topic === USERS);
    expect(JSON.parse(String(reply.raw))).toStrictEqual([
      '7',
      '7',
      USERS,
      'phx_reply',
      { status: 'ok', response: {} },
    ]);
    const system = await client.next((f) => f.event === 'system');
    expect(JSON.parse(String(system.raw))[0]).toBe('7');
    client.sendRaw(`[7,8,"${USERS}","phx_leave",{}]`);
    await client.next((f) => f.event === 'phx_reply' && f.ref === '8');
    const close = await client.next((f) => f.event === 'phx_close');
    expect(JSON.parse(String(close.raw))).toStrictEqual(['7', '7', USERS, 'phx_close', {}]);
  });

  it('vsn 2.0.0: a numeric heartbeat ref is echoed as a string', async () => {
    const client = await pool.open({ vsn: '2.0.0' });
    client.sendRaw('[null,12,"phoenix","heartbeat",{}]');
    const reply = await client.next((f) => f.event === 'phx_reply' && f.topic === 'phoenix');
    expect(JSON.parse(String(reply.raw))).toStrictEqual([
      null,
      '12',
      'phoenix',
      'phx_reply',
      { status: 'ok', response: {} },
    ]);
  });
});

describe(`MAX_FRAME_SIZE=${MAX_FRAME}`, () => {
  it('accepts a frame just under the limit', async () => {
    const client = await pool.open({ gateway: smallFrames });
    const payload = { pad: 'x'.repeat(MAX_FRAME - 150) };
    const ref = client.send({ topic: 'phoenix', event: 'heartbeat', payload, joinRef: null });
    const reply = await client.next((f) => f.event === 'phx_reply' && f.ref === ref);
    expect(reply.payload.status).toBe('ok');
  });

  it.each(['1.0.0', '2.0.0'] as const)(
    'vsn %s: a larger frame closes only that socket; others on the gateway keep receiving',
    async (vsn) => {
      const other = await watcher(smallFrames, vsn === '1.0.0' ? '2.0.0' : '1.0.0');
      const sameVsn = await watcher(smallFrames, vsn);
      const client = await pool.open({ gateway: smallFrames, vsn });
      expect((await client.join(USERS)).payload.status).toBe('ok');
      client.send({ topic: 'phoenix', event: 'heartbeat', payload: { pad: 'x'.repeat(MAX_FRAME * 2) } });
      const closed = await client.closed;
      expect(closed.code).not.toBe(1000);
      expect(sameVsn.isOpen).toBe(true);
      expect(other.isOpen).toBe(true);
      const id = await insertUser(backends.pg.url);
      await other.next(isChangeFor(USERS, 'INSERT', id));
      await sameVsn.next(isChangeFor(USERS, 'INSERT', id));
      expect((await other.heartbeat()).payload.status).toBe('ok');
    },
  );
});
