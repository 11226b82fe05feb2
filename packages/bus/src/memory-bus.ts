import { busKeyId, matchesPattern, type Bus, type BusHandler, type BusKey, type BusState } from './bus';
import type { HistoryEntry } from './history-batch';
import { MemoryHistory } from './memory-history';

/**
 * An in-process bus with the same contract as {@link RedisBus}, for unit tests. Delivery is
 * asynchronous (a microtask later), as it is over a network.
 */
export class MemoryBus implements Bus {
  private readonly keys = new Map<string, BusKey>();
  private handler: BusHandler = () => undefined;
  private readonly listeners: Array<(s: BusState) => void> = [];
  state: BusState = 'ready';
  /** What was published with a history entry. */
  readonly history = new MemoryHistory();
  /** While true, published messages reach no subscriber (a subscriber cut off from Redis). */
  dropping = false;

  async publish(topic: string, message: string, history?: HistoryEntry): Promise<void> {
    if (this.state === 'closed') throw new Error('bus is closed');
    if (history) this.history.append(topic, message, history);
    if (this.dropping) return;
    const matched = [...this.keys.values()].filter((k) =>
      k.topic !== undefined ? k.topic === topic : matchesPattern(k.pattern, topic),
    );
    await Promise.resolve();
    for (const key of matched) this.handler(key, topic, message);
  }

  async subscribe(key: BusKey): Promise<void> {
    this.keys.set(busKeyId(key), key);
    await Promise.resolve();
  }

  async unsubscribe(key: BusKey): Promise<void> {
    this.keys.delete(busKeyId(key));
    await Promise.resolve();
  }

  onMessage(handler: BusHandler): void {
    this.handler = handler;
  }

  onStateChange(listener: (state: BusState) => void): void {
    this.listeners.push(listener);
  }

  /** Moves to `state` and tells the listeners (tests: a lost and restored connection). */
  setState(state: BusState): void {
    this.state = state;
    for (const l of this.listeners) l(state);
  }

  async close(): Promise<void> {
    this.state = 'closed';
    for (const l of this.listeners) l('closed');
    await Promise.resolve();
  }
}
