import type { Logger } from '@walcast/logger';
import { MemoryHistory } from '@walcast/bus';
import { formatPosition, streamIdOf, topicForTable, type Position } from '@walcast/protocol';
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

describe('CatchUp on a Redis Cluster: where a table heard of nothing resumes', () => {
  const topic = topicForTable('public', 'items');
  const Q = (lsn: number): Position => ({ lsn: BigInt(lsn), index: 0 });

  function clusterSetup() {
    const history = new MemoryHistory();
    // The history starts before everything here.
    history.append(topicForTable('public', 'other'), 'm1', { position: P(1), streamId: streamIdOf(Q(1)) });
    for (const lsn of [5, 8])
      history.append(topic, `m${lsn}`, { position: P(lsn), streamId: streamIdOf(Q(lsn)) });
    const entry = new BusEntry('t', { topic });
    entry.slot = 7;
    entry.markLive();
    const processed: string[] = [];
    const lost: string[] = [];
    const finished: string[] = [];
    const host: CatchUpHost = {
      process: (_entry, _topic, message) => processed.push(message),
      lost: (_entry, reason) => lost.push(reason),
      entries: () => [entry],
      holds: () => true,
    };
    const catchUp = new CatchUp(
      history,
      host,
      { finished: (result) => finished.push(result), read: () => undefined },
      silent,
    );
    return { entry, catchUp, processed, lost, finished };
  }

  it('starts after the last position heard on its own slot, not on another slot further ahead', async () => {
    const { catchUp, processed, lost, finished } = clusterSetup();
    catchUp.heard(P(4), 7);
    catchUp.heard(P(9), 3); // another slot's connection, further ahead: says nothing of slot 7
    catchUp.busLost();
    catchUp.busBack();
    await waitUntil(() => finished.length > 0);
    expect(finished).toEqual(['ok']);
    expect(processed).toEqual(['m5', 'm8']);
    expect(lost).toEqual([]);
  });

  it('gives up (its channels are told) when nothing was heard on its slot', async () => {
    const { catchUp, lost, finished } = clusterSetup();
    catchUp.heard(P(9), 3);
    catchUp.busLost();
    catchUp.busBack();
    await waitUntil(() => finished.length > 0);
    expect(finished).toEqual(['gap']);
    expect(lost).toEqual(['redis']);
  });
});

async function waitUntil(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((resolve) => setImmediate(resolve));
  if (!check()) throw new Error('condition not met');
}
