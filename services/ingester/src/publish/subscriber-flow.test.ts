import { createLogger } from '@walcast/logger';
import type { SubscriberBacklog } from '@walcast/bus';
import { waitFor } from '@walcast/test-utils';
import { SubscriberFlow } from './subscriber-flow';

const MB = 1024 * 1024;

const silent = createLogger({ service: 'ingester', level: 'silent', version: 'test' });

function setup({ maxWaitMs = 10_000, loneWaitMs = 500, closeBytes = 0 } = {}) {
  let now = 0;
  const holds: boolean[] = [];
  const closed: string[] = [];
  const flow = new SubscriberFlow({
    read: () => Promise.resolve([]),
    intervalMs: 50,
    pauseBytes: 4 * MB,
    maxWaitMs,
    loneWaitMs,
    closeBytes,
    close: (id) => {
      closed.push(id);
      return Promise.resolve();
    },
    log: silent,
    onHold: (held) => holds.push(held),
    now: () => now,
  });
  return { flow, holds, closed, advance: (ms: number) => (now += ms) };
}

const sub = (id: string, outputBytes: number) => ({ id, name: `walcast-gateway:${id}:sub`, outputBytes });

/** A flow over 4 MB read only when checked or held (the interval is a minute), with `inFlightBytes` unanswered. */
function checkedFlow(
  read: () => Promise<SubscriberBacklog[]>,
  inFlightBytes: () => number = () => 0,
  now: () => number = Date.now,
) {
  const holds: boolean[] = [];
  const flow = new SubscriberFlow({
    read,
    inFlightBytes,
    intervalMs: 60_000,
    pauseBytes: 4 * MB,
    maxWaitMs: 10_000,
    loneWaitMs: 500,
    closeBytes: 0,
    close: () => Promise.resolve(),
    log: silent,
    onHold: (held) => holds.push(held),
    now,
  });
  return { flow, holds };
}

describe('SubscriberFlow', () => {
  it('holds while a subscriber is above the threshold and releases under half of it', () => {
    const { flow, holds } = setup();
    flow.decide([sub('a', 1 * MB), sub('b', 0)]);
    expect(holds).toEqual([]);
    flow.decide([sub('a', 5 * MB), sub('b', 0)]);
    expect(holds).toEqual([true]);
    flow.decide([sub('a', 3 * MB), sub('b', 0)]); // under the threshold, above half: still held
    expect(holds).toEqual([true]);
    flow.decide([sub('a', 1 * MB), sub('b', 0)]);
    expect(holds).toEqual([true, false]);
    expect(holds.filter((held) => held)).toHaveLength(1); // holding started once
  });

  it('does not start holding for a backlog between half and the threshold', () => {
    const { flow, holds } = setup();
    flow.decide([sub('a', 3 * MB)]);
    expect(holds).toEqual([]);
  });

  it('holds for a subscriber behind alone only the short wait, then lets the others through', () => {
    const { flow, holds, advance } = setup();
    flow.decide([sub('stuck', 5 * MB), sub('b', 0), sub('c', MB)]);
    expect(holds).toEqual([true]);
    advance(499);
    flow.decide([sub('stuck', 6 * MB), sub('b', 0), sub('c', 0)]);
    expect(holds).toEqual([true]);
    advance(1);
    flow.decide([sub('stuck', 6 * MB), sub('b', 0), sub('c', 0)]);
    expect(holds).toEqual([true, false]);
    flow.decide([sub('stuck', 9 * MB), sub('b', 0), sub('c', 0)]); // no longer waited for
    expect(holds).toEqual([true, false]);
    expect(flow.isHolding).toBe(false);
  });

  it('a subscriber ignored does not shrink the budget of the others', async () => {
    let backlog = [sub('stuck', 9 * MB), sub('ok', 0)];
    let now = 0;
    const holds: boolean[] = [];
    const flow = new SubscriberFlow({
      read: () => Promise.resolve(backlog),
      intervalMs: 60_000,
      pauseBytes: 4 * MB,
      maxWaitMs: 10_000,
      loneWaitMs: 100,
      closeBytes: 0,
      close: () => Promise.resolve(),
      log: silent,
      onHold: (held) => holds.push(held),
      now: () => now,
    });
    await flow.check();
    now += 100;
    await flow.check();
    expect(holds).toEqual([true, false]);
    backlog = [sub('stuck', 12 * MB), sub('ok', 0)];
    flow.consume(3 * MB); // 4 MB of budget: the ignored subscriber's 12 MB do not count
    expect(holds).toEqual([true, false]);
  });

  it('waits for every subscriber while the backlog is shared by a majority, up to the maximum wait', () => {
    const { flow, holds, advance } = setup({ maxWaitMs: 2000 });
    flow.decide([sub('a', 6 * MB), sub('b', 5 * MB), sub('c', 0)]);
    expect(holds).toEqual([true]);
    advance(1500);
    flow.decide([sub('a', 6 * MB), sub('b', 3 * MB), sub('c', 0)]); // b draining: still shared
    expect(holds).toEqual([true]);
    advance(499);
    flow.decide([sub('a', 6 * MB), sub('b', 3 * MB), sub('c', 0)]);
    expect(holds).toEqual([true]);
    advance(1);
    flow.decide([sub('a', 6 * MB), sub('b', 2.5 * MB), sub('c', 0)]); // both held reading for 2 s
    expect(holds).toEqual([true, false]);
  });

  it('counts subscribers that take turns at being the last one behind as a shared backlog', () => {
    const { flow, holds, advance } = setup({ loneWaitMs: 300 });
    for (let turn = 0; turn < 20; turn++) {
      const [ahead, behind] = turn % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
      flow.decide([sub(ahead, 0), sub(behind, 6 * MB)]);
      advance(200);
    }
    expect(holds).toEqual([true]);
    advance(100); // a was last behind 300 ms ago: b is alone from now
    flow.decide([sub('a', 0), sub('b', 6 * MB)]);
    expect(holds).toEqual([true]);
    advance(300);
    flow.decide([sub('a', 0), sub('b', 6 * MB)]);
    expect(holds).toEqual([true, false]);
  });

  it('waits for one subscriber that is the only one (a burst too fast for it) up to the maximum wait', () => {
    const { flow, holds, advance } = setup({ maxWaitMs: 2000 });
    flow.decide([sub('a', 6 * MB)]);
    advance(1999);
    flow.decide([sub('a', 6 * MB)]);
    expect(holds).toEqual([true]);
    advance(1);
    flow.decide([sub('a', 7 * MB)]);
    expect(holds).toEqual([true, false]);
    advance(5000);
    flow.decide([sub('a', 9 * MB)]); // still ignored
    expect(holds).toEqual([true, false]);
    flow.decide([sub('a', 1 * MB)]); // caught up: waited for again
    flow.decide([sub('a', 5 * MB)]);
    expect(holds).toEqual([true, false, true]);
  });

  it('keeps holding for the last subscriber of a shared burst while it drains, not once it stops', () => {
    const { flow, holds, advance } = setup();
    flow.decide([sub('a', 5 * MB), sub('b', 5 * MB)]);
    advance(50);
    flow.decide([sub('a', 0), sub('b', 3.5 * MB)]); // b alone now, draining
    advance(400);
    flow.decide([sub('a', 0), sub('b', 3 * MB)]);
    advance(400);
    flow.decide([sub('a', 0), sub('b', 2.5 * MB)]);
    expect(holds).toEqual([true]);
    advance(400);
    flow.decide([sub('a', 0), sub('b', 2.5 * MB)]); // stopped draining: the short wait starts
    advance(499);
    flow.decide([sub('a', 0), sub('b', 2.5 * MB)]);
    expect(holds).toEqual([true]);
    advance(1);
    flow.decide([sub('a', 0), sub('b', 2.5 * MB)]);
    expect(holds).toEqual([true, false]);
  });

  it('closes a gateway no longer waited for once it passes the close limit, once, and only gateways', () => {
    const { flow, closed, advance } = setup({ closeBytes: 16 * MB });
    const other = { id: 'other', name: 'some-app', outputBytes: 0 };
    flow.decide([sub('stuck', 5 * MB), sub('ok', 0), other]);
    advance(500);
    flow.decide([sub('stuck', 15 * MB), sub('ok', 0), other]);
    expect(closed).toEqual([]);
    flow.decide([sub('stuck', 17 * MB), sub('ok', 0), { ...other, outputBytes: 30 * MB }]);
    flow.decide([sub('stuck', 18 * MB), sub('ok', 0), { ...other, outputBytes: 40 * MB }]);
    expect(closed).toEqual(['stuck']);
  });

  it('never closes anyone with a close limit of 0', () => {
    const { flow, closed, advance } = setup();
    flow.decide([sub('stuck', 5 * MB), sub('ok', 0)]);
    advance(500);
    flow.decide([sub('stuck', 500 * MB), sub('ok', 0)]);
    flow.decide([sub('stuck', 900 * MB), sub('ok', 0)]);
    expect(closed).toEqual([]);
  });

  it('forgets subscribers that went away (a closed connection no longer holds anything)', () => {
    const { flow, holds } = setup();
    flow.decide([sub('a', 5 * MB)]);
    flow.decide([]);
    expect(holds).toEqual([true, false]);
  });

  it('holds once the budget left by the last reading is spent, and reads again at once', async () => {
    let reads = 0;
    let backlog = [sub('a', 3 * MB)];
    const { flow, holds } = checkedFlow(() => {
      reads++;
      return Promise.resolve(backlog);
    });
    await flow.check(); // 3 MB behind: 1 MB may be published before the next reading
    expect(reads).toBe(1);
    flow.consume(600 * 1024);
    expect(holds).toEqual([]);
    backlog = [sub('a', 1 * MB)]; // it caught up meanwhile
    flow.consume(600 * 1024); // budget spent: hold, and read now
    expect(holds).toEqual([true]);
    await flow.check();
    expect(reads).toBeGreaterThanOrEqual(2);
    expect(holds).toEqual([true, false]);
    flow.consume(2 * MB); // 3 MB of budget now
    expect(holds).toEqual([true, false]);
  });

  it('leaves out of the budget what a reading may miss (unanswered publishes) while a subscriber lags or lagged lately', async () => {
    let backlog = [sub('a', 1 * MB)];
    let inFlight = 3 * MB;
    let now = 1000;
    const { flow, holds } = checkedFlow(
      () => Promise.resolve(backlog),
      () => inFlight,
      () => now,
    );
    flow.consume(2 * MB);
    await flow.check(); // 1 MB behind and 3 MB unanswered: nothing left of 4 MB
    expect(holds).toEqual([true]);
    inFlight = 0; // Redis answered everything: the next reading shows all of it
    await flow.check();
    expect(holds).toEqual([true, false]);
    backlog = [sub('a', 0)]; // drained between two bursts: it lagged lately, so still counted
    inFlight = 3 * MB;
    now += 100;
    await flow.check();
    flow.consume(1.5 * MB); // 4 MB less 3 MB unanswered leaves 1 MB
    expect(holds).toEqual([true, false, true]);
    now += 500; // keeping up for loneWaitMs: a pipeline of up to pauseBytes is not counted
    await flow.check();
    expect(holds).toEqual([true, false, true, false]);
    flow.consume(3.5 * MB);
    expect(holds).toEqual([true, false, true, false]);
    flow.stop();
  });

  it('counts what passes one pipeline of pauseBytes even while every subscriber keeps up', async () => {
    // Kernel buffers can hide a slow reader until Redis delivers a whole pipeline at once.
    let inFlight = 9 * MB;
    let readings = 0;
    const read = () => {
      readings++;
      return Promise.resolve([sub('a', 0)]);
    };
    const { flow, holds } = checkedFlow(read, () => inFlight);
    flow.consume(9 * MB); // spends the first budget: holds and reads
    await flow.check();
    expect(holds).toEqual([true]); // 9 MB unanswered: 5 MB past one pipeline, nothing left of 4
    // Held only for what Redis has not answered: readings follow within ms, not at the interval.
    const before = readings;
    await waitFor(() => readings >= before + 2, { timeoutMs: 5000, message: 'two more readings' });
    expect(holds).toEqual([true]);
    inFlight = 2 * MB; // Redis answered: within one pipeline again
    await waitFor(() => holds.length === 2, { timeoutMs: 5000, message: 'the hold to end' });
    expect(holds).toEqual([true, false]);
    flow.consume(3.5 * MB); // a pipeline of up to 4 MB is not slowed
    expect(holds).toEqual([true, false]);
    flow.stop();
  });

  it('keeps its decision when a reading fails', async () => {
    const { holds } = setup();
    const failing = new SubscriberFlow({
      read: () => Promise.reject(new Error('redis away')),
      intervalMs: 50,
      pauseBytes: MB,
      maxWaitMs: 1000,
      loneWaitMs: 500,
      closeBytes: 0,
      close: () => Promise.resolve(),
      log: silent,
      onHold: (held) => holds.push(held),
    });
    await failing.check();
    expect(holds).toEqual([]);
    expect(failing.isHolding).toBe(false);
  });
});
