/**
 * Presence when the cluster breaks, with @supabase/supabase-js 2.119.1 over real websockets: a
 * gateway SIGKILLed (survivors sweep its lapsed lease and send its leaves) and Redis restarted empty
 * (gateways re-assert their entries and push a fresh presence_state). Two gateway processes on one
 * Redis, with a short PRESENCE_LEASE so that a dead gateway's presences go within seconds.
 */
import { WalcastStack, sql, startBackends, uniqueName, waitFor, type Backends } from '@walcast/test-utils';
import { PresenceChannel, type PresenceOptions } from './support/presence-client';

jest.setTimeout(60_000);

const LEASE_MS = 2_000;

let backends: Backends;
let stack: WalcastStack;
const open: PresenceChannel[] = [];

beforeAll(async () => {
  backends = await startBackends();
  await sql(backends.pg.url, `create publication supabase_realtime for all tables`);
  stack = await WalcastStack.start(backends, {
    gateways: 2,
    gatewayEnv: { PRESENCE_LEASE: `${LEASE_MS}ms` },
  });
}, 60_000);

afterEach(async () => {
  await Promise.allSettled(open.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await stack?.stop();
  await backends?.stop();
}, 30_000);

function client(gateway: number, name: string, opts: PresenceOptions = {}): PresenceChannel {
  const c = new PresenceChannel(stack.gatewayPorts[gateway]!, name, opts);
  open.push(c);
  return c;
}

describe('presence when a gateway dies', () => {
  afterEach(async () => {
    if (!stack.gateways[0]?.isRunning()) await stack.startGateway(0);
  });

  it('SIGKILL: a listener on the other gateway sees the dead gateway’s presences leave within the lease and a few seconds', async () => {
    const room = uniqueName('kill');
    const b = await client(1, room, { key: 'kb' }).synced();
    const a = await client(0, room, { key: 'ka' }).synced();
    const a2 = await client(0, room, { key: 'ka2' }).synced();
    expect(await b.track({ u: 'b' })).toBe('ok');
    expect(await a.track({ u: 'a' })).toBe('ok');
    expect(await a2.track({ u: 'a2' })).toBe('ok');
    await b.waitForSummary({ ka: ['a'], ka2: ['a2'], kb: ['b'] });

    const killedAt = Date.now();
    await stack.gateways[0]!.kill('SIGKILL');
    await b.waitForLeave('ka', 'a', LEASE_MS + 5_000);
    await b.waitForLeave('ka2', 'a2', LEASE_MS + 5_000);
    const elapsedMs = Date.now() - killedAt;
    console.log(
      `leaves of a SIGKILLed gateway's presences after ${elapsedMs} ms (PRESENCE_LEASE ${LEASE_MS} ms)`,
    );
    expect(elapsedMs).toBeLessThan(LEASE_MS + 3_000);
    expect(b.summary()).toEqual({ kb: ['b'] });

    // The survivor's own presence stayed, and Redis holds nothing of the dead gateway.
    const late = await client(1, room, { key: 'kc' }).synced();
    expect(late.summary()).toEqual({ kb: ['b'] });
  });
});

describe('presence when Redis restarts', () => {
  /** A on gateway 0 and B on gateway 1 track, see each other, then Redis restarts empty. */
  async function restartWithTwoPresent(): Promise<{
    a: PresenceChannel;
    b: PresenceChannel;
    room: string;
    eventsBefore: number[];
    refsBefore: Array<Record<string, unknown>>;
  }> {
    const room = uniqueName('redis');
    const a = await client(0, room, { key: 'ka' }).synced();
    const b = await client(1, room, { key: 'kb' }).synced();
    expect(await a.track({ u: 'a' })).toBe('ok');
    expect(await b.track({ u: 'b' })).toBe('ok');
    for (const c of [a, b]) await c.waitForSummary(BOTH);
    const statesBefore = [a.states().length, b.states().length];
    const eventsBefore = [a.events.length, b.events.length];
    const refsBefore = [a.state(), b.state()];

    await backends.redis.restart();
    const restartedAt = Date.now();
    // A fresh presence_state once the gateways re-asserted their entries, then the exact set.
    for (const [i, c] of [a, b].entries()) {
      await waitFor(() => c.states().length > statesBefore[i]!, {
        timeoutMs: 20_000,
        message: `a fresh presence_state on ${c.name} after Redis restarted`,
      });
      await c.waitForSummary(BOTH, 10_000);
    }
    console.log(`presence state back on both gateways ${Date.now() - restartedAt} ms after Redis restarted`);
    return { a, b, room, eventsBefore, refsBefore };
  }

  const BOTH = { ka: ['a'], kb: ['b'] };

  it('both sides see each other again afterwards, with no ghosts and no duplicate metas', async () => {
    const { a, b, room, refsBefore } = await restartWithTwoPresent();
    // The same presences (refs kept), once each: not new ones beside ghosts of the old.
    for (const [i, c] of [a, b].entries()) expect(c.state()).toEqual(refsBefore[i]);

    // What Redis now holds, read by a newcomer: the same two, once each.
    const late = await client(0, room, { key: 'kc' }).synced();
    expect(late.summary()).toEqual(BOTH);
    // A gateway may still push a refresh after the restart (its bus or store reconnecting late); every
    // state it sends holds the two, once each.
    for (const state of late.states()) {
      expect(state).toEqual({
        ka: { metas: [{ u: 'a', phx_ref: expect.any(String) }] },
        kb: { metas: [{ u: 'b', phx_ref: expect.any(String) }] },
      });
    }

    // And presence works as before: a change crosses gateways.
    expect(await a.track({ u: 'a2' })).toBe('ok');
    await b.waitForJoin('ka', 'a2');
    await b.waitForSummary({ ka: ['a2'], kb: ['b'] });
  });

  // After the restart each gateway re-asserts its entries (join diffs that clients de-duplicate by
  // phx_ref) and pushes the state again only a second later, once every gateway has re-asserted: a
  // state read from a Redis still half empty would make realtime-js report leaves of presences
  // that never left.
  it('presences that never left give no leave event across the restart', async () => {
    const { a, b, eventsBefore } = await restartWithTwoPresent();
    for (const [i, c] of [a, b].entries()) {
      const leaves = c.events.slice(eventsBefore[i]).filter((e) => e.event === 'leave');
      expect(leaves).toEqual([]);
    }
  });
});
