/**
 * Presence end to end with @supabase/supabase-js 2.119.1 (vsn 2.0.0) over real websockets to two
 * gateway processes on one Redis, and again on a Redis Cluster of three shards: tracking, late
 * joiners, updates, untrack and close, shared keys,
 * the client rate limit and a payload that is not an object. Trackers and listeners sit on different
 * gateways unless a test says otherwise, so every diff crosses Redis. Gateway death and Redis
 * restarts are in presence-cluster.int.test.ts, private channels in presence-private.int.test.ts.
 *
 * "No diff came" is proved with a later diff from the same tracker that did come (support/
 * presence-client.ts), never with a sleep.
 */
import { WalcastStack, sql, startBackends, uniqueName, type Backends } from '@walcast/test-utils';
import { REALTIME_SUBSCRIBE_STATES } from '@supabase/realtime-js';
import { PresenceChannel, type PresenceOptions } from './support/presence-client';
import { REDIS_SETUPS } from './support/redis-backends';

describe.each(REDIS_SETUPS)('on %s', (_setup, redisOptions) => {
  let backends: Backends;
  let stack: WalcastStack;
  const open: PresenceChannel[] = [];

  beforeAll(async () => {
    backends = await startBackends(redisOptions);
    await sql(backends.pg.url, `create publication supabase_realtime for all tables`);
    stack = await WalcastStack.start(backends, { gateways: 2 });
  });

  afterEach(async () => {
    await Promise.allSettled(open.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await stack?.stop();
    await backends?.stop();
  });

  /** A supabase-js client of gateway `gateway` on channel `name` (not yet subscribed). */
  function client(gateway: number, name: string, opts: PresenceOptions = {}): PresenceChannel {
    const c = new PresenceChannel(stack.gatewayPorts[gateway]!, name, opts);
    open.push(c);
    return c;
  }

  describe('supabase-js presence across two gateways', () => {
    it('a track reaches a listener on the other gateway and the tracker itself as a join; both states show it', async () => {
      const room = uniqueName('track');
      const b = await client(1, room, { key: 'kb' }).synced();
      const a = await client(0, room, { key: 'ka' }).synced();
      expect(await a.track({ u: 'a' })).toBe('ok');
      for (const c of [a, b]) {
        const join = await c.waitForJoin('ka', 'a');
        expect(join).toMatchObject({
          key: 'ka',
          newPresences: [{ u: 'a', presence_ref: expect.any(String) }],
        });
        await c.waitForSummary({ ka: ['a'] });
      }
      expect(a.state()).toEqual(b.state());
    });

    it('a late joiner gets the state in its sync; the raw presence_state meta carries phx_ref', async () => {
      const room = uniqueName('late');
      const a = await client(0, room, { key: 'ka' }).synced();
      expect(await a.track({ u: 'a' })).toBe('ok');
      await a.waitForJoin('ka', 'a');
      const c = await client(1, room, { key: 'kc' }).synced();
      expect(c.summary()).toEqual({ ka: ['a'] });
      const [state] = c.states();
      expect(c.states()).toHaveLength(1);
      expect(state).toEqual({ ka: { metas: [{ u: 'a', phx_ref: expect.stringMatching(/^[\w-]+$/) }] } });
      expect(c.state().ka![0]!.presence_ref).toBe(state!.ka!.metas[0]!.phx_ref);
    });

    it('a changed re-track is one diff: leave(old) and join(new with phx_ref_prev); one meta remains', async () => {
      const room = uniqueName('update');
      const b = await client(1, room, { key: 'kb' }).synced();
      const a = await client(0, room, { key: 'ka' }).synced();
      expect(await a.track({ u: 'a' })).toBe('ok');
      await b.waitForJoin('ka', 'a');
      expect(await a.track({ u: 'a2' })).toBe('ok');
      await b.waitForLeave('ka', 'a');
      await b.waitForJoin('ka', 'a2');
      expect(b.state().ka).toEqual([{ u: 'a2', presence_ref: expect.any(String) }]);
      await a.waitForSummary({ ka: ['a2'] });

      const diffs = b.diffs();
      expect(diffs).toHaveLength(2);
      const oldRef = diffs[0]!.joins.ka!.metas[0]!.phx_ref;
      expect(diffs[1]).toEqual({
        joins: { ka: { metas: [{ u: 'a2', phx_ref: expect.any(String), phx_ref_prev: oldRef }] } },
        leaves: { ka: { metas: [{ u: 'a', phx_ref: oldRef }] } },
      });
      expect(diffs[1]!.joins.ka!.metas[0]!.phx_ref).not.toBe(oldRef);
    });

    it('an identical re-track sends no diff; untrack is a leave; closing the tracker’s socket is a leave within 2 s', async () => {
      const room = uniqueName('noop');
      const b = await client(1, room, { key: 'kb' }).synced();
      const a = await client(0, room, { key: 'ka' }).synced();
      expect(await a.track({ u: 'a' })).toBe('ok');
      expect(await a.track({ u: 'a' })).toBe('ok');
      expect(await a.track({ u: 'a3' })).toBe('ok');
      await b.waitForJoin('ka', 'a3');
      // The identical track came between the two: had it produced a diff, it would be before this one.
      expect(b.diffs().map((d) => [Object.keys(d.joins), Object.keys(d.leaves)])).toEqual([
        [['ka'], []],
        [['ka'], ['ka']],
      ]);

      expect(await a.untrack()).toBe('ok');
      await b.waitForLeave('ka', 'a3');
      await b.waitForSummary({});
      expect(b.diffs()).toHaveLength(3);

      expect(await a.track({ u: 'a4' })).toBe('ok');
      await b.waitForJoin('ka', 'a4');
      const closedAt = Date.now();
      await a.close();
      await b.waitForLeave('ka', 'a4', 2_000);
      const elapsedMs = Date.now() - closedAt;
      console.log(`leave after the tracker's socket closed: ${elapsedMs} ms`);
      expect(elapsedMs).toBeLessThan(2_000);
      expect(b.summary()).toEqual({});
    });

    it('two sockets with one key are two metas under it; one leaving removes only its own', async () => {
      const room = uniqueName('shared');
      const b = await client(1, room, { key: 'kb' }).synced();
      const a1 = await client(0, room, { key: 'shared' }).synced();
      const a2 = await client(1, room, { key: 'shared' }).synced();
      expect(await a1.track({ u: 'one' })).toBe('ok');
      expect(await a2.track({ u: 'two' })).toBe('ok');
      await b.waitForSummary({ shared: ['one', 'two'] });
      await a1.waitForSummary({ shared: ['one', 'two'] });
      const refs = new Set(b.state().shared!.map((p) => p.presence_ref));
      expect(refs.size).toBe(2);

      await a1.channel.unsubscribe();
      await b.waitForLeave('shared', 'one');
      await b.waitForSummary({ shared: ['two'] });
      await a2.waitForSummary({ shared: ['two'] });
      expect(b.events.some((e) => e.event === 'leave' && e.leftPresences.some((p) => p.u === 'two'))).toBe(
        false,
      );
    });

    it('the 6th presence call within 30 s gets "Client presence rate limit exceeded" and the channel closes', async () => {
      const room = uniqueName('rate');
      const b = await client(1, room, { key: 'kb' }).synced();
      const a = await client(0, room, { key: 'ka' }).synced();
      for (let i = 1; i <= 5; i++) expect(await a.track({ u: `a${i}` })).toBe('ok');
      await b.waitForJoin('ka', 'a5');
      const sixth = a.channel.track({ u: 'a6' }, { timeout: 2_000 });
      const msg = await a.waitForSystem((p) => p.status === 'error');
      expect(msg).toMatchObject({
        extension: 'presence',
        message: 'Client presence rate limit exceeded',
        channel: room,
      });
      await a.waitForStatus(REALTIME_SUBSCRIBE_STATES.CLOSED);
      expect(a.channel.state).toBe('closed');
      expect(await sixth).not.toBe('ok');
      // The closed channel's presence left everywhere; the refused track never joined.
      await b.waitForLeave('ka', 'a5');
      await b.waitForSummary({});
      expect(b.events.some((e) => e.event === 'join' && e.newPresences.some((p) => p.u === 'a6'))).toBe(
        false,
      );
    });

    it('a payload that is not an object: track() resolves error with the reference reason, and nothing is tracked', async () => {
      const room = uniqueName('nonobject');
      const b = await client(1, room, { key: 'kb' }).synced();
      const a = await client(0, room, { key: 'ka' }).synced();
      // supabase-js types say object; at run time it sends whatever it is given.
      expect(await a.track('x' as unknown as Record<string, unknown>)).toBe('error');
      const replies = a
        .received<{ status: string; response: unknown }>('phx_reply')
        .filter((r) => r.status === 'error');
      expect(replies).toEqual([
        { status: 'error', response: { reason: 'Presence track payload must be a map' } },
      ]);
      expect(await a.track({ u: 'after' })).toBe('ok');
      await b.waitForJoin('ka', 'after');
      expect(b.diffs()).toHaveLength(1);
      expect(b.summary()).toEqual({ ka: ['after'] });
    });
  });
});
