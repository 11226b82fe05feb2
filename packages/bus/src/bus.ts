/**
 * The message bus between the ingester and the gateways: Redis pub/sub in production, memory in
 * unit tests. One contract (bus-contract tests) holds for every implementation.
 *
 * Delivery is at-most-once per subscriber, like Redis pub/sub itself: a subscriber that is
 * disconnected misses what was published meanwhile. Publishers learn that Redis accepted a message
 * (`publish` resolves), which is what the ingester's acknowledgement rule needs.
 */

import type { HistoryEntry } from './history-batch';

/** What a subscription listens to: one exact topic, or a glob pattern (`*` only). */
export type BusKey = { topic: string; pattern?: undefined } | { pattern: string; topic?: undefined };

/** Called for every message; `via` is the key that matched (a message matching two keys arrives twice). */
export type BusHandler = (via: BusKey, topic: string, message: string) => void;

export type BusState = 'connecting' | 'ready' | 'reconnecting' | 'closed';

export interface Bus {
  /**
   * Resolves once the broker accepted the message; rejects only when the bus is closed. With
   * `history` (a change of a table topic, on a bus that keeps history), the message also enters
   * the topic's history, atomically with its publication.
   */
  publish(topic: string, message: string, history?: HistoryEntry): Promise<void>;
  /** Resolves once the broker confirmed the subscription: messages published afterwards arrive. */
  subscribe(key: BusKey): Promise<void>;
  unsubscribe(key: BusKey): Promise<void>;
  /** Registers the one message handler. */
  onMessage(handler: BusHandler): void;
  /** Called on every state change; a `ready` after `reconnecting` means messages may have been missed. */
  onStateChange(listener: (state: BusState) => void): void;
  readonly state: BusState;
  close(): Promise<void>;
}

/** A stable string for a key, for maps. */
export function busKeyId(key: BusKey): string {
  return key.topic !== undefined ? `t:${key.topic}` : `p:${key.pattern}`;
}

/** Redis-style glob match restricted to `*` (the only special character topics leave unescaped). */
export function matchesPattern(pattern: string, topic: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === topic;
  const first = parts[0] ?? '';
  const last = parts[parts.length - 1] ?? '';
  if (!topic.startsWith(first) || topic.length < first.length + last.length || !topic.endsWith(last))
    return false;
  let pos = first.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const idx = topic.indexOf(parts[i] ?? '', pos);
    if (idx < 0) return false;
    pos = idx + (parts[i] ?? '').length;
  }
  return pos <= topic.length - last.length;
}
