import { createLogger } from '@walcast/logger';
import { SubscriberFlow } from './subscriber-flow';

const MB = 1024 * 1024;

function setup(maxWaitMs = 10_000) {
  let now = 0;
  const holds: boolean[] = [];
  const flow = new SubscriberFlow({
    read: () => Promise.resolve([]),
    intervalMs: 50,
    pauseBytes: 4 * MB,
    maxWaitMs,
    log: createLogger({ service: 'ingester', level: 'silent', version: 'test' }),
    onHold: (held) => holds.push(held),
    now: () => now,
  });
  return { flow, holds, advance: (ms: number) => (now += ms) };
}

const sub = (id: string, outputBytes: number) => ({ id, name: `gw-${id}`, outputBytes });

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

  it('stops waiting for a subscriber stuck above the threshold, and waits again once it caught up', () => {
    const { flow, holds, advance } = setup(1000);
    flow.decide([sub('stuck', 6 * MB), sub('ok', 0)]);
    expect(holds).toEqual([true]);
    advance(999);
    flow.decide([sub('stuck', 6 * MB), sub('ok', 0)]);
    expect(holds).toEqual([true]);
    advance(1);
    flow.decide([sub('stuck', 7 * MB), sub('ok', 0)]);
    expect(holds).toEqual([true, false]);
    advance(5000);
    flow.decide([sub('stuck', 9 * MB), sub('ok', 0)]); // still ignored
    expect(holds).toEqual([true, false]);
    flow.decide([sub('stuck', 0), sub('ok', 0)]); // caught up: waited for again
    flow.decide([sub('stuck', 5 * MB), sub('ok', 0)]);
    expect(holds).toEqual([true, false, true]);
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
    const holds: boolean[] = [];
    const flow = new SubscriberFlow({
      read: () => {
        reads++;
        return Promise.resolve(backlog);
      },
      intervalMs: 60_000,
      pauseBytes: 4 * MB,
      maxWaitMs: 10_000,
      log: createLogger({ service: 'ingester', level: 'silent', version: 'test' }),
      onHold: (held) => holds.push(held),
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

  it('keeps its decision when a reading fails', async () => {
    const { holds } = setup();
    const failing = new SubscriberFlow({
      read: () => Promise.reject(new Error('redis away')),
      intervalMs: 50,
      pauseBytes: MB,
      maxWaitMs: 1000,
      log: createLogger({ service: 'ingester', level: 'silent', version: 'test' }),
      onHold: (held) => holds.push(held),
    });
    await failing.check();
    expect(holds).toEqual([]);
    expect(failing.isHolding).toBe(false);
  });
});
