import type { Bus } from '@walcast/bus';
import { decodeBusMessage, encodeBusMessage, topicForTable } from '@walcast/protocol';
import type { EncodedChange } from '../changes/change-encoder';
import type { Lsn } from '../replication/lsn';
import { ConfirmingPublisher, type PublisherOptions } from './confirming-publisher';

interface PendingPublish {
  topic: string;
  message: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A bus whose publishes stay pending until the test settles them. */
function manualBus(): { bus: Bus; pending: PendingPublish[] } {
  const pending: PendingPublish[] = [];
  const bus = {
    publish: (topic: string, message: string) =>
      new Promise<void>((resolve, reject) => pending.push({ topic, message, resolve, reject })),
  } as unknown as Bus;
  return { bus, pending };
}

/** Lets promise callbacks run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function change(topic = topicForTable('public', 't'), json = '{"type":"INSERT"}'): EncodedChange {
  return {
    topic,
    type: 'INSERT',
    json,
    pk: ['id'],
    stamp: { position: '0000000000000100-00000000', streamId: '256-0' },
  };
}

function setup(overrides: Partial<PublisherOptions> = {}) {
  const { bus, pending } = manualBus();
  const confirmed: Lsn[] = [];
  const pressure: boolean[] = [];
  const failures: Error[] = [];
  const published: number[] = [];
  const publisher = new ConfirmingPublisher({
    bus,
    source: 'ingester-test',
    maxInFlight: 1000,
    maxInFlightBytes: 1_000_000,
    onConfirm: (lsn) => confirmed.push(lsn),
    onPressure: (paused) => pressure.push(paused),
    onFailure: (err) => failures.push(err),
    onPublished: (bytes) => published.push(bytes),
    startLsn: 10n,
    ...overrides,
  });
  return { publisher, pending, confirmed, pressure, failures, published };
}

describe('ConfirmingPublisher: envelopes', () => {
  it('publishes each change on its topic with a header per (source, topic), primary key included', () => {
    const { publisher, pending } = setup();
    publisher.publish(change('a', '{"n":1}'), 0x100n);
    publisher.publish(change('b', '{"n":2}'), 0x100n);
    publisher.publish(change('a', '{"n":3}'), (1n << 32n) | 0x200n);
    expect(pending.map((p) => p.topic)).toEqual(['a', 'b', 'a']);
    const decoded = pending.map((p) => decodeBusMessage(p.message));
    for (const d of decoded) expect(Math.abs(d.header.ts! - Date.now())).toBeLessThan(5000);
    expect(decoded.map(({ header: { ts: _ts, ...rest } }) => rest)).toEqual([
      {
        v: 1,
        src: 'ingester-test',
        seq: 1,
        lsn: '0/100',
        type: 'INSERT',
        pk: ['id'],
        pos: '0000000000000100-00000000',
      },
      {
        v: 1,
        src: 'ingester-test',
        seq: 1,
        lsn: '0/100',
        type: 'INSERT',
        pk: ['id'],
        pos: '0000000000000100-00000000',
      },
      {
        v: 1,
        src: 'ingester-test',
        seq: 2,
        lsn: '1/200',
        type: 'INSERT',
        pk: ['id'],
        pos: '0000000000000100-00000000',
      },
    ]);
    expect(decoded.map((d) => d.eventJson)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
  });

  it('reports the size of each resolved publish', async () => {
    const { publisher, pending, published } = setup();
    publisher.publish(change(), 20n);
    pending[0]!.resolve();
    await flush();
    expect(published).toEqual([pending[0]!.message.length]);
  });
});

describe('ConfirmingPublisher: confirmation', () => {
  it('starts at the start LSN', () => {
    expect(setup().publisher.confirmed).toBe(10n);
  });

  it('confirms a commit with nothing in flight at once', () => {
    const { publisher, confirmed } = setup();
    publisher.commit(20n);
    expect(confirmed).toEqual([20n]);
    expect(publisher.confirmed).toBe(20n);
  });

  it('confirms a commit only after its publishes resolved', async () => {
    const { publisher, pending, confirmed } = setup();
    publisher.publish(change(), 20n);
    publisher.publish(change(), 20n);
    publisher.commit(20n);
    expect(confirmed).toEqual([]);
    pending[0]!.resolve();
    await flush();
    expect(confirmed).toEqual([]);
    pending[1]!.resolve();
    await flush();
    expect(confirmed).toEqual([20n]);
  });

  it('waits for earlier publishes that resolve out of order', async () => {
    const { publisher, pending, confirmed } = setup();
    publisher.publish(change(), 20n); // #0
    publisher.commit(20n);
    publisher.publish(change(), 30n); // #1
    publisher.publish(change(), 30n); // #2
    publisher.commit(30n);
    publisher.publish(change(), 40n); // #3
    publisher.commit(40n);

    pending[2]!.resolve();
    pending[3]!.resolve();
    await flush();
    expect(confirmed).toEqual([]);

    pending[0]!.resolve();
    await flush();
    expect(confirmed).toEqual([20n]);

    pending[1]!.resolve();
    await flush();
    expect(confirmed).toEqual([20n, 30n, 40n]);
    expect(publisher.inFlight).toBe(0);
    expect(publisher.isIdle).toBe(true);
  });

  it('does not confirm a later commit before an earlier one still waiting', async () => {
    const { publisher, pending, confirmed } = setup();
    publisher.publish(change(), 20n);
    publisher.commit(20n);
    publisher.commit(25n); // empty transaction behind a pending one
    expect(confirmed).toEqual([]);
    pending[0]!.resolve();
    await flush();
    expect(confirmed).toEqual([20n, 25n]);
  });

  it('confirms only increasing LSNs', async () => {
    const { publisher, pending, confirmed } = setup({ startLsn: 100n });
    publisher.commit(50n);
    publisher.commit(100n);
    expect(confirmed).toEqual([]);
    publisher.commit(200n);
    publisher.publish(change(), 150n);
    publisher.commit(150n);
    pending[0]!.resolve();
    await flush();
    publisher.commit(180n);
    expect(confirmed).toEqual([200n]);
    expect(publisher.confirmed).toBe(200n);
  });
});

describe('ConfirmingPublisher: back-pressure', () => {
  it('pauses at maxInFlight messages and resumes at half', async () => {
    const { publisher, pending, pressure } = setup({ maxInFlight: 4 });
    for (let i = 0; i < 3; i++) publisher.publish(change(), 20n);
    expect(pressure).toEqual([]);
    publisher.publish(change(), 20n);
    expect(pressure).toEqual([true]);
    publisher.publish(change(), 20n);
    expect(pressure).toEqual([true]);
    expect(publisher.inFlight).toBe(5);

    pending[0]!.resolve();
    pending[1]!.resolve();
    await flush();
    expect(publisher.inFlight).toBe(3);
    expect(pressure).toEqual([true]);

    pending[2]!.resolve();
    await flush();
    expect(publisher.inFlight).toBe(2);
    expect(pressure).toEqual([true, false]);

    pending[3]!.resolve();
    await flush();
    expect(pressure).toEqual([true, false]);
  });

  it('counts publishes resolved out of order as in flight until the earlier ones resolve', async () => {
    const { publisher, pending, pressure } = setup({ maxInFlight: 2 });
    publisher.publish(change(), 20n);
    publisher.publish(change(), 20n);
    expect(pressure).toEqual([true]);
    pending[1]!.resolve();
    await flush();
    expect(publisher.inFlight).toBe(2);
    expect(pressure).toEqual([true]);
    pending[0]!.resolve();
    await flush();
    expect(pressure).toEqual([true, false]);
  });

  it('pauses at maxInFlightBytes and resumes when bytes drain to half', async () => {
    const big = change('t', `{"pad":"${'x'.repeat(200)}"}`);
    const size = encodeBusMessage(
      { v: 1, src: 'ingester-test', seq: 1, lsn: '0/14', type: 'INSERT' },
      big.json,
    ).length;
    // Three messages reach the limit; one left in flight is at most half of it.
    const { publisher, pending, pressure } = setup({ maxInFlightBytes: Math.floor(2.5 * size) });
    publisher.publish(big, 20n);
    publisher.publish(big, 20n);
    expect(pressure).toEqual([]);
    publisher.publish(big, 20n);
    expect(pressure).toEqual([true]);
    expect(publisher.inFlight).toBe(3);
    pending[0]!.resolve();
    await flush();
    expect(pressure).toEqual([true]);
    pending[1]!.resolve();
    await flush();
    expect(pressure).toEqual([true, false]);
  });
});

describe('ConfirmingPublisher: failure', () => {
  it('calls onFailure once and confirms nothing afterwards', async () => {
    const { publisher, pending, confirmed, failures } = setup();
    publisher.publish(change(), 20n); // #0
    publisher.commit(20n);
    publisher.publish(change(), 30n); // #1
    publisher.commit(30n);
    publisher.publish(change(), 40n); // #2

    pending[1]!.reject(new Error('connection lost'));
    pending[2]!.reject(new Error('connection lost again'));
    await flush();
    expect(failures.map((e) => e.message)).toEqual(['connection lost']);

    pending[0]!.resolve();
    await flush();
    publisher.commit(40n);
    publisher.advanceIdle(50n);
    expect(confirmed).toEqual([]);
    expect(publisher.confirmed).toBe(10n);
  });

  it('keeps what was confirmed before the failure', async () => {
    const { publisher, pending, confirmed, failures } = setup();
    publisher.publish(change(), 20n);
    publisher.commit(20n);
    pending[0]!.resolve();
    await flush();
    publisher.publish(change(), 30n);
    publisher.commit(30n);
    pending[1]!.reject(new Error('closed'));
    await flush();
    expect(confirmed).toEqual([20n]);
    expect(failures).toHaveLength(1);
  });

  it('wraps a non-Error rejection in an Error', async () => {
    const { publisher, pending, failures } = setup();
    publisher.publish(change(), 20n);
    (pending[0]!.reject as (v: unknown) => void)('plain string');
    await flush();
    expect(failures[0]).toBeInstanceOf(Error);
    expect(failures[0]!.message).toBe('plain string');
  });
});

describe('ConfirmingPublisher: advanceIdle', () => {
  it('confirms a keepalive position when idle', () => {
    const { publisher, confirmed } = setup();
    expect(publisher.isIdle).toBe(true);
    publisher.advanceIdle(30n);
    expect(confirmed).toEqual([30n]);
  });

  it('does nothing while a publish is in flight or a commit waits', async () => {
    const { publisher, pending, confirmed } = setup();
    publisher.publish(change(), 20n);
    publisher.advanceIdle(30n);
    publisher.commit(20n);
    expect(publisher.isIdle).toBe(false);
    publisher.advanceIdle(30n);
    expect(confirmed).toEqual([]);
    pending[0]!.resolve();
    await flush();
    expect(publisher.isIdle).toBe(true);
    publisher.advanceIdle(30n);
    expect(confirmed).toEqual([20n, 30n]);
  });

  it('never moves the confirmed position backwards', () => {
    const { publisher, confirmed } = setup();
    publisher.advanceIdle(5n);
    expect(confirmed).toEqual([]);
  });
});
