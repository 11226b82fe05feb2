import { MemoryBus } from '@walcast/bus';
import type { Logger } from '@walcast/logger';
import {
  FAN_IN_ALL_CHANNEL,
  fanInChannelForSchema,
  formatPosition,
  hashSlot,
  patternForAll,
  patternForSchema,
  positionChannelForSlot,
  streamIdOf,
  topicForBroadcast,
  topicForTable,
} from '@walcast/protocol';
import { BusSubscriptions } from './bus-subscriptions';
import { SlotPositions } from './slot-positions';

const silent = { warn() {}, debug() {}, info() {}, error() {} } as unknown as Logger;
const P = (lsn: number): string => formatPosition(BigInt(lsn), 0);
const items = topicForTable('public', 'items');

function setup() {
  const bus = new MemoryBus();
  const heard: string[] = [];
  bus.onMessage((_via, topic) => heard.push(topic));
  const positions = new SlotPositions(bus, bus.history, silent);
  const subscriptions = new BusSubscriptions(bus, silent, positions);
  /** Whether an announcement on `slot`'s position channel reaches this gateway. */
  const follows = async (slot: number): Promise<boolean> => {
    heard.length = 0;
    await bus.publish(positionChannelForSlot(slot), P(1));
    return heard.length > 0;
  };
  return { bus, positions, subscriptions, follows };
}

describe('SlotPositions: the position announcements a gateway on a Redis Cluster follows', () => {
  it('places a subscription on the slot of the shard channel its changes arrive on', () => {
    const { positions } = setup();
    expect(positions.slotOf({ topic: items })).toBe(hashSlot(items));
    expect(positions.slotOf({ pattern: patternForSchema('public') })).toBe(
      hashSlot(fanInChannelForSchema('public')),
    );
    expect(positions.slotOf({ pattern: patternForAll() })).toBe(hashSlot(FAN_IN_ALL_CHANNEL));
    expect(positions.slotOf({ topic: topicForBroadcast('room', false) })).toBeNull();
  });

  it('follows a slot while a subscription lives there, once however many do', async () => {
    const { subscriptions, positions, follows } = setup();
    const slot = hashSlot(items);
    const a = subscriptions.acquire({ topic: items });
    const b = subscriptions.acquire({ topic: items });
    await new Promise((resolve) => setImmediate(resolve));
    expect(a).toBe(b);
    expect(a.slot).toBe(slot);
    expect(positions.size).toBe(1);
    expect(await follows(slot)).toBe(true);
    subscriptions.release(a);
    expect(await follows(slot)).toBe(true);
    subscriptions.release(b);
    expect(positions.size).toBe(0);
    expect(await follows(slot)).toBe(false);
  });

  it("reads a table's history tail before subscribing to its topic", async () => {
    const { bus, subscriptions } = setup();
    const other = topicForTable('public', 'other');
    await bus.publish(other, 'm', { position: P(3), streamId: streamIdOf({ lsn: 3n, index: 0 }) });
    await bus.publish(items, 'm', { position: P(5), streamId: streamIdOf({ lsn: 5n, index: 0 }) });
    const entry = subscriptions.acquire({ topic: items });
    await new Promise<void>((resolve) => entry.whenLive(resolve));
    expect(entry.baseline).toBe(P(5));
    // A table without a history yet: the history's start (nothing of it was written since).
    const quiet = subscriptions.acquire({ topic: topicForTable('public', 'quiet') });
    await new Promise<void>((resolve) => quiet.whenLive(resolve));
    expect(quiet.baseline).toBe(P(3));
  });
});
