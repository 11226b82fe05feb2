import type { BusKey } from './bus';
import { MemoryBus } from './memory-bus';

interface Delivery {
  via: BusKey;
  topic: string;
  message: string;
}

function recordingBus(): { bus: MemoryBus; got: Delivery[] } {
  const bus = new MemoryBus();
  const got: Delivery[] = [];
  bus.onMessage((via, topic, message) => got.push({ via, topic, message }));
  return { bus, got };
}

describe('MemoryBus', () => {
  it('delivers a publish to a subscriber of its topic', async () => {
    const { bus, got } = recordingBus();
    await bus.subscribe({ topic: 't:1' });
    await bus.publish('t:1', 'hello');
    expect(got).toEqual([{ via: { topic: 't:1' }, topic: 't:1', message: 'hello' }]);
  });

  it('does not deliver to subscribers of other topics', async () => {
    const { bus, got } = recordingBus();
    await bus.subscribe({ topic: 't:1' });
    await bus.publish('t:2', 'x');
    expect(got).toEqual([]);
  });

  it('delivers to pattern subscribers whose pattern matches', async () => {
    const { bus, got } = recordingBus();
    await bus.subscribe({ pattern: 'schema:a:*' });
    await bus.publish('schema:a:users', 'm1');
    await bus.publish('schema:b:users', 'm2');
    expect(got).toEqual([{ via: { pattern: 'schema:a:*' }, topic: 'schema:a:users', message: 'm1' }]);
  });

  it('delivers once per matching key when a topic and a pattern both match', async () => {
    const { bus, got } = recordingBus();
    await bus.subscribe({ topic: 'schema:a:users' });
    await bus.subscribe({ pattern: 'schema:a:*' });
    await bus.subscribe({ pattern: '*' });
    await bus.publish('schema:a:users', 'm');
    expect(got.map((d) => d.via)).toEqual([
      { topic: 'schema:a:users' },
      { pattern: 'schema:a:*' },
      { pattern: '*' },
    ]);
  });

  it('subscribing twice to one key still delivers once', async () => {
    const { bus, got } = recordingBus();
    await bus.subscribe({ topic: 't' });
    await bus.subscribe({ topic: 't' });
    await bus.publish('t', 'm');
    expect(got).toHaveLength(1);
  });

  it('stops delivering after unsubscribe', async () => {
    const { bus, got } = recordingBus();
    await bus.subscribe({ topic: 't' });
    await bus.subscribe({ pattern: 'p*' });
    await bus.unsubscribe({ topic: 't' });
    await bus.unsubscribe({ pattern: 'p*' });
    await bus.publish('t', 'm');
    await bus.publish('pq', 'm');
    expect(got).toEqual([]);
  });

  it('unsubscribing a pattern leaves a topic with the same text subscribed', async () => {
    const { bus, got } = recordingBus();
    await bus.subscribe({ topic: 'a*' });
    await bus.subscribe({ pattern: 'a*' });
    await bus.unsubscribe({ pattern: 'a*' });
    await bus.publish('a*', 'm');
    expect(got.map((d) => d.via)).toEqual([{ topic: 'a*' }]);
  });

  it('delivers asynchronously, after publish returns', async () => {
    const { bus, got } = recordingBus();
    await bus.subscribe({ topic: 't' });
    const published = bus.publish('t', 'm');
    expect(got).toEqual([]);
    await published;
    expect(got).toHaveLength(1);
  });

  it('keeps publish order', async () => {
    const { bus, got } = recordingBus();
    await bus.subscribe({ topic: 't' });
    await Promise.all(['1', '2', '3'].map((m) => bus.publish('t', m)));
    expect(got.map((d) => d.message)).toEqual(['1', '2', '3']);
  });

  it('starts ready, reports closed, and refuses publishes once closed', async () => {
    const bus = new MemoryBus();
    const states: string[] = [];
    bus.onStateChange((s) => states.push(s));
    expect(bus.state).toBe('ready');
    await bus.close();
    expect(bus.state).toBe('closed');
    expect(states).toEqual(['closed']);
    await expect(bus.publish('t', 'm')).rejects.toThrow('bus is closed');
  });
});
