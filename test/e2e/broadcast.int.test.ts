/**
 * Broadcast end to end with the published clients: @supabase/supabase-js 2.119.1 and
 * @supabase/realtime-js 2.119.1 (vsn 1.0.0 and 2.0.0) over real websockets to two gateway processes
 * that share one Redis (every case runs again on a Redis Cluster of three shards, sharded pub/sub).
 * Senders and receivers sit on different gateways unless a test says
 * otherwise, so every delivery crosses Redis. Limits, garbage frames and private channels are in
 * broadcast-limits.int.test.ts.
 *
 * "Nothing arrived" is proved with a later message that did arrive from the same sender on the same
 * topic (its order is kept end to end; see support/broadcast-client.ts), never with a sleep.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { WalcastStack, sql, startBackends, uniqueName, type Backends } from '@walcast/test-utils';
import {
  BroadcastChannel,
  BroadcastClient,
  decodeKind3,
  decodeKind4,
  recordingTransport,
  tagOf,
  type WireFrame,
} from './support/broadcast-client';
import { disconnect, type Vsn } from './support/modern-client';
import { REDIS_SETUPS } from './support/redis-backends';

describe.each(REDIS_SETUPS)('on %s', (_setup, redisOptions) => {
  let backends: Backends;
  let stack: WalcastStack;
  /** Everything to close after each test. */
  const open: Array<{ close(): unknown }> = [];
  const closing: unknown[] = [];

  beforeAll(async () => {
    backends = await startBackends(redisOptions);
    await sql(backends.pg.url, `create publication supabase_realtime for all tables`);
    stack = await WalcastStack.start(backends, {
      gateways: 2,
      // 200 messages in one burst (the ordering test) fit; the default 100 is tested elsewhere.
      gatewayEnv: { MAX_CHANNEL_BROADCASTS_PER_SECOND: '1000' },
    });
  });

  afterEach(() => {
    closing.push(...open.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await Promise.allSettled(closing);
    await stack?.stop();
    await backends?.stop();
  });

  function client(vsn: Vsn, gateway: number): BroadcastClient {
    const c = new BroadcastClient(stack.endpoint(gateway, '/realtime/v1'), vsn);
    open.push(c);
    return c;
  }

  /** A supabase-js client of gateway `gateway` (vsn 2.0.0, its default), recording its frames. */
  function supabase(gateway: number): { sb: SupabaseClient; frames: WireFrame[] } {
    const frames: WireFrame[] = [];
    const sb = createClient(`http://127.0.0.1:${stack.gatewayPorts[gateway]}`, 'any-key', {
      realtime: { transport: recordingTransport(frames) },
    });
    open.push({ close: () => disconnect(sb.realtime) });
    return { sb, frames };
  }

  function subscribe(sb: SupabaseClient, name: string, broadcast: Record<string, unknown>): BroadcastChannel {
    return new BroadcastChannel(sb.channel(name, { config: { broadcast } }));
  }

  /** Text frames of `frames` in direction `dir`, parsed. */
  function textFrames(frames: WireFrame[], dir: 'in' | 'out'): unknown[] {
    return frames.filter((f) => f.dir === dir && !f.binary).map((f) => JSON.parse(f.bytes.toString('utf8')));
  }

  const events = (channel: BroadcastChannel): string[] => channel.received.map((b) => b.event);

  describe('supabase-js 2.119.1: self and ack', () => {
    const payload = { text: 'hi', n: 1.5, nested: { list: [1, 'x', null, true] }, unicode: 'żółw 🐢' };

    it('self: true — the sender receives its own message, deep-equal', async () => {
      const { sb } = supabase(0);
      const room = uniqueName('self');
      const sender = await subscribe(sb, room, { self: true }).ready();
      expect(await sender.send('note', payload)).toBe('ok');
      expect(await sender.waitForEvent('note')).toEqual({ type: 'broadcast', event: 'note', payload });
    });

    it('self: false — a client on the other gateway receives it, the sender does not', async () => {
      const room = uniqueName('noself');
      const sender = await subscribe(supabase(0).sb, room, { self: false }).ready();
      const receiver = await subscribe(supabase(1).sb, room, { self: false }).ready();
      await sender.send('ping', payload);
      expect(await receiver.waitForEvent('ping')).toEqual({ type: 'broadcast', event: 'ping', payload });
      // Barrier: 'pong' is published after 'ping' reached gateway 1, so had gateway 0 echoed 'ping'
      // to its sender (locally or when Redis hands it back), that echo would arrive first.
      await receiver.send('pong', {});
      await sender.waitForEvent('pong');
      expect(events(sender)).toEqual(['pong']);
      expect(events(receiver)).toEqual(['ping']);
    });

    it('ack: true — send() resolves ok; over MAX_BROADCAST_BYTES (256 KiB) it resolves error and nobody gets it', async () => {
      const room = uniqueName('ack');
      const { sb, frames } = supabase(0);
      const sender = await subscribe(sb, room, { ack: true }).ready();
      const receiver = await subscribe(supabase(1).sb, room, {}).ready();
      expect(await sender.send('small', { x: 1 })).toBe('ok');
      expect(await sender.send('big', { blob: 'x'.repeat(300 * 1024) })).toBe('error');
      expect(await sender.send('after', { y: 2 })).toBe('ok');
      await receiver.waitForEvent('after');
      expect(events(receiver)).toEqual(['small', 'after']);
      const replies = textFrames(frames, 'in').filter(
        (f) => (f as unknown[])[3] === 'phx_reply',
      ) as unknown[][];
      expect(replies.map((r) => r[4])).toContainEqual({ status: 'error', response: 'payload_size_exceeded' });
    });

    it('ack: false — an oversized message resolves ok locally (no reply) and is dropped', async () => {
      const room = uniqueName('noack');
      const sender = await subscribe(supabase(0).sb, room, { ack: false }).ready();
      const receiver = await subscribe(supabase(1).sb, room, {}).ready();
      expect(await sender.send('big', { blob: 'x'.repeat(300 * 1024) })).toBe('ok');
      await sender.send('after', {});
      await receiver.waitForEvent('after');
      expect(events(receiver)).toEqual(['after']);
    });
  });

  describe('realtime-js 2.119.1, vsn 1.0.0 and 2.0.0 on different gateways', () => {
    it('exchange messages both ways; 2.0.0 sends binary kind 3, receives kind 4 from 2.0.0 and text from 1.0.0', async () => {
      const room = uniqueName('vsn');
      const topic = `realtime:${room}`;
      const v1 = client('1.0.0', 0);
      const v2 = client('2.0.0', 1);
      const v2sender = client('2.0.0', 0);
      const [c1, c2, c2s] = await Promise.all([v1, v2, v2sender].map((c) => c.channel(room).ready()));

      await c2!.send('from-v2', { a: 1 });
      expect(await c1!.waitForEvent('from-v2')).toEqual({
        type: 'broadcast',
        event: 'from-v2',
        payload: { a: 1 },
      });
      await c1!.send('from-v1', { b: 2 });
      expect(await c2!.waitForEvent('from-v1')).toEqual({
        type: 'broadcast',
        event: 'from-v1',
        payload: { b: 2 },
      });
      await c2s!.send('from-v2-peer', { c: 3 });
      expect(await c2!.waitForEvent('from-v2-peer')).toEqual({
        type: 'broadcast',
        event: 'from-v2-peer',
        payload: { c: 3 },
      });
      await c1!.waitForEvent('from-v2-peer');

      // 2.0.0 sent kind 3 (JSON encoding, no metadata) and no text broadcast.
      const pushed = v2.sent('out').filter((f) => f.binary);
      expect(pushed).toHaveLength(1);
      expect(decodeKind3(pushed[0]!.bytes)).toMatchObject({
        topic,
        event: 'from-v2',
        meta: '',
        enc: 1,
        payload: Buffer.from('{"a":1}'),
      });
      expect(textFrames(v2.frames, 'out').some((f) => (f as unknown[])[3] === 'broadcast')).toBe(false);
      // 2.0.0 received the 2.0.0 peer's message as kind 4, the 1.0.0 client's as a text array.
      const kind4 = v2.sent('in').filter((f) => f.binary);
      expect(kind4.map((f) => decodeKind4(f.bytes))).toEqual([
        { topic, event: 'from-v2-peer', meta: '', enc: 1, payload: Buffer.from('{"c":3}') },
      ]);
      expect(textFrames(v2.frames, 'in')).toContainEqual([
        null,
        null,
        topic,
        'broadcast',
        { type: 'broadcast', event: 'from-v1', payload: { b: 2 } },
      ]);
      // 1.0.0 sent a JSON push and received kind-3 messages converted to text objects.
      expect(textFrames(v1.frames, 'out')).toContainEqual(
        expect.objectContaining({
          topic,
          event: 'broadcast',
          payload: { type: 'broadcast', event: 'from-v1', payload: { b: 2 } },
        }),
      );
      expect(textFrames(v1.frames, 'in')).toContainEqual(
        expect.objectContaining({
          topic,
          event: 'broadcast',
          payload: { event: 'from-v2', payload: { a: 1 }, type: 'broadcast' },
        }),
      );
      expect(v1.frames.some((f) => f.binary)).toBe(false);
    });
  });

  describe('binary payloads', () => {
    it('an ArrayBuffer from 2.0.0 arrives as an ArrayBuffer with equal bytes at 2.0.0; 1.0.0 receivers get nothing', async () => {
      const room = uniqueName('bin');
      const sender = client('2.0.0', 0);
      const v2 = client('2.0.0', 1);
      const v1remote = client('1.0.0', 1);
      const v1local = client('1.0.0', 0); // on the sender's gateway: the local delivery path
      const [s, r2, r1, r1local] = await Promise.all(
        [sender, v2, v1remote, v1local].map((c) => c.channel(room).ready()),
      );
      const bytes = new Uint8Array(4096);
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + (i >> 8)) & 0xff;

      expect(await s!.send('blob', bytes.buffer.slice(0))).toBe('ok');
      await s!.send('after', { done: true });

      const got = await r2!.waitForEvent('blob');
      expect(tagOf(got.payload)).toBe('[object ArrayBuffer]');
      expect(Buffer.from(got.payload as ArrayBuffer).equals(Buffer.from(bytes))).toBe(true);
      const frame = v2.sent('in').find((f) => f.binary && decodeKind4(f.bytes).event === 'blob');
      expect(frame && decodeKind4(frame.bytes).enc).toBe(0);
      expect(decodeKind3(sender.sent('out').find((f) => f.binary)!.bytes).enc).toBe(0);
      for (const v1 of [r1!, r1local!]) {
        await v1.waitForEvent('after');
        expect(v1.received).toEqual([{ type: 'broadcast', event: 'after', payload: { done: true } }]);
      }
      await r2!.waitForEvent('after');
      expect(events(r2!)).toEqual(['blob', 'after']);
    });
  });

  describe('ordering', () => {
    it.each<Vsn>(['2.0.0', '1.0.0'])(
      '200 messages from a vsn %s sender arrive in order at both versions on the other gateway',
      async (vsn) => {
        const room = uniqueName('order');
        const sender = client(vsn, 0);
        const receivers = [client('1.0.0', 1), client('2.0.0', 1)];
        const [s, ...rs] = await Promise.all([sender, ...receivers].map((c) => c.channel(room).ready()));
        const sends: Array<Promise<string>> = [];
        for (let i = 0; i < 200; i++) sends.push(s!.send('seq', { i }));
        expect(new Set(await Promise.all(sends))).toEqual(new Set(['ok']));
        const expected = Array.from({ length: 200 }, (_, i) => i);
        for (const r of rs) {
          const got = await r.waitForCount(200);
          expect(got.map((b) => (b.payload as { i: number }).i)).toEqual(expected);
        }
      },
    );
  });
});
