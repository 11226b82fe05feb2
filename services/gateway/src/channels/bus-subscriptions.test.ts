import { MemoryBus, type BusKey } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import { BusEntry, BusSubscriptions } from './bus-subscriptions';
import { topicForTable } from '@walcast/protocol';

function fakeLog(): Logger & { warn: jest.Mock; debug: jest.Mock } {
  return { warn: jest.fn(), debug: jest.fn() } as unknown as Logger & { warn: jest.Mock; debug: jest.Mock };
}

/** Lets promise callbacks run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function setup() {
  const bus = new MemoryBus();
  const received: string[] = [];
  bus.onMessage((_via, _topic, message) => received.push(message));
  const subscribe = jest.spyOn(bus, 'subscribe');
  const unsubscribe = jest.spyOn(bus, 'unsubscribe');
  const log = fakeLog();
  return { bus, received, subscribe, unsubscribe, log, subs: new BusSubscriptions(bus, log) };
}

const key: BusKey = { topic: topicForTable('public', 'users') };

describe('BusSubscriptions: reference counting', () => {
  it('subscribes once for any number of acquirers of one key', () => {
    const { subs, subscribe } = setup();
    const a = subs.acquire(key);
    const b = subs.acquire({ topic: key.topic });
    expect(a).toBe(b);
    expect(a.refs).toBe(2);
    expect(subscribe).toHaveBeenCalledTimes(1);
    expect(subscribe).toHaveBeenCalledWith(key);
    expect(subs.size).toBe(1);
    expect(subs.get(a.id)).toBe(a);
  });

  it('keeps a topic and a pattern with the same text apart', () => {
    const { subs, subscribe } = setup();
    const t = subs.acquire({ topic: 'x*' });
    const p = subs.acquire({ pattern: 'x*' });
    expect(t).not.toBe(p);
    expect(subscribe).toHaveBeenCalledTimes(2);
  });

  it('unsubscribes only when the last reference is released', async () => {
    const { bus, subs, unsubscribe, received } = setup();
    const entry = subs.acquire(key);
    subs.acquire(key);
    await flush();
    subs.release(entry);
    expect(unsubscribe).not.toHaveBeenCalled();
    await bus.publish(key.topic, 'still subscribed');
    subs.release(entry);
    expect(unsubscribe).toHaveBeenCalledTimes(1);
    expect(unsubscribe).toHaveBeenCalledWith(key);
    expect(subs.size).toBe(0);
    expect(subs.get(entry.id)).toBeUndefined();
    await flush();
    await bus.publish(key.topic, 'after release');
    expect(received).toEqual(['still subscribed']);
  });

  it('subscribes again for a key acquired after it was released', async () => {
    const { bus, subs, subscribe, received } = setup();
    const first = subs.acquire(key);
    subs.release(first);
    const second = subs.acquire(key);
    expect(second).not.toBe(first);
    expect(subscribe).toHaveBeenCalledTimes(2);
    await flush();
    expect(second.live).toBe(true);
    await bus.publish(key.topic, 'm');
    expect(received).toEqual(['m']);
  });

  it('does not unsubscribe a newer entry when a stale one is released again', async () => {
    const { subs, unsubscribe } = setup();
    const stale = subs.acquire(key);
    subs.release(stale);
    const fresh = subs.acquire(key);
    subs.release(stale);
    expect(unsubscribe).toHaveBeenCalledTimes(1);
    expect(subs.get(fresh.id)).toBe(fresh);
  });

  it('logs a failed unsubscribe at debug level and forgets the entry anyway', async () => {
    const { subs, unsubscribe, log } = setup();
    unsubscribe.mockRejectedValueOnce(new Error('redis down'));
    subs.release(subs.acquire(key));
    await flush();
    expect(subs.size).toBe(0);
    expect(log.debug).toHaveBeenCalledTimes(1);
  });
});

describe('BusSubscriptions: liveness', () => {
  it('marks the entry live once the bus confirms the subscription', async () => {
    const { subs } = setup();
    const entry = subs.acquire(key);
    const ran = jest.fn();
    entry.whenLive(ran);
    expect(entry.live).toBe(false);
    expect(ran).not.toHaveBeenCalled();
    await flush();
    expect(entry.live).toBe(true);
    expect(ran).toHaveBeenCalledTimes(1);
  });

  it('stays not live and warns with BusUnavailable when subscribing fails', async () => {
    const { subs, subscribe, log } = setup();
    subscribe.mockRejectedValueOnce(new Error('redis down'));
    const entry = subs.acquire(key);
    const ran = jest.fn();
    entry.whenLive(ran);
    await flush();
    expect(entry.live).toBe(false);
    expect(ran).not.toHaveBeenCalled();
    expect(log.warn).toHaveBeenCalledTimes(1);
    expect(log.warn.mock.calls[0]![0]).toMatchObject({ code: 'BusUnavailable', topic: entry.id });
  });
});

describe('BusEntry.whenLive', () => {
  it('runs waiters synchronously inside markLive, in order', () => {
    const entry = new BusEntry('t:x', { topic: 'x' });
    const order: string[] = [];
    entry.whenLive(() => order.push('a'));
    entry.whenLive(() => order.push('b'));
    order.push('before');
    entry.markLive();
    order.push('after');
    expect(order).toEqual(['before', 'a', 'b', 'after']);
  });

  it('runs a waiter at once when the entry is already live', () => {
    const entry = new BusEntry('t:x', { topic: 'x' });
    entry.markLive();
    const ran = jest.fn();
    const cancel = entry.whenLive(ran);
    expect(ran).toHaveBeenCalledTimes(1);
    expect(() => cancel()).not.toThrow();
  });

  it('does not run a cancelled waiter', () => {
    const entry = new BusEntry('t:x', { topic: 'x' });
    const kept = jest.fn();
    const cancelled = jest.fn();
    entry.whenLive(kept);
    const cancel = entry.whenLive(cancelled);
    cancel();
    entry.markLive();
    expect(kept).toHaveBeenCalledTimes(1);
    expect(cancelled).not.toHaveBeenCalled();
  });

  it('runs each waiter once even if markLive is called again', () => {
    const entry = new BusEntry('t:x', { topic: 'x' });
    const ran = jest.fn();
    entry.whenLive(ran);
    entry.markLive();
    entry.markLive();
    expect(ran).toHaveBeenCalledTimes(1);
    expect(entry.live).toBe(true);
  });
});
