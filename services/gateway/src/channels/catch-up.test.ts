import type { Logger } from '@walcast/logger';
import { formatPosition, topicForTable } from '@walcast/protocol';
import { BusEntry } from './bus-subscriptions';
import { CatchUp, type CatchUpHost } from './catch-up';

const silent = { warn() {}, debug() {}, info() {}, error() {} } as unknown as Logger;

function setup() {
  const entry = new BusEntry('t', { topic: topicForTable('public', 'items') });
  const host: CatchUpHost = {
    process: () => undefined,
    lost: () => undefined,
    entries: () => [entry],
    holds: () => true,
  };
  const catchUp = new CatchUp(null, host, { finished: () => undefined, read: () => undefined }, silent);
  return { entry, catchUp };
}

/** Whether `promise` has settled once pending callbacks ran. */
async function isSettled(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => (settled = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return settled;
}

const P = (lsn: number, index = 0): string => formatPosition(BigInt(lsn), index);

describe('CatchUp.whenPassed: the live stream reached a position', () => {
  afterEach(() => jest.useRealTimers());

  it('resolves at once for a position already heard', async () => {
    const { catchUp, entry } = setup();
    catchUp.heard(P(10, 3));
    expect(await isSettled(catchUp.whenPassed(P(10, 3), [entry], 60_000))).toBe(true);
    expect(await isSettled(catchUp.whenPassed(P(9), [entry], 60_000))).toBe(true);
  });

  it('waits until a position at or after it is heard', async () => {
    const { catchUp, entry } = setup();
    catchUp.heard(P(10));
    const passed = catchUp.whenPassed(P(12, 1), [entry], 60_000);
    catchUp.heard(P(12, 0));
    expect(await isSettled(passed)).toBe(false);
    catchUp.heard(P(12, 1));
    expect(await isSettled(passed)).toBe(true);
  });

  it('waits while a subscription of the group holds messages (catching up), even past the position', async () => {
    const { catchUp, entry } = setup();
    entry.held = [];
    const passed = catchUp.whenPassed(P(5), [entry], 60_000);
    catchUp.heard(P(6)); // an announcement: the changes before it are held, not passed on yet
    expect(await isSettled(passed)).toBe(false);
    entry.held = null;
    catchUp.heard(P(7));
    expect(await isSettled(passed)).toBe(true);
  });

  it('gives up after the timeout for a position never heard', async () => {
    jest.useFakeTimers();
    const { catchUp, entry } = setup();
    const passed = catchUp.whenPassed(P(99), [entry], 5000);
    jest.advanceTimersByTime(4999);
    expect(await isSettled(passed)).toBe(false);
    jest.advanceTimersByTime(1);
    expect(await isSettled(passed)).toBe(true);
  });
});
