/**
 * Reading the change history: per table topic, the recent changes the ingester published, in
 * position order (Redis Streams in production, history-reader.ts; memory in unit tests). Gateways
 * read it to catch up after losing Redis or seeing a gap, and to replay what a resuming client
 * missed (`since`).
 */
import {
  comparePositions,
  formatPosition,
  parsePosition,
  positionOfStreamId,
  type Position,
} from '@walcast/protocol';
import { matchesPattern } from './bus';

/** One change from the history. */
export interface HistoryRecord {
  position: Position;
  /** The bus message, exactly as it was published. */
  message: string;
}

/** Whether a topic's history still holds every change after a position. */
export type Coverage = { covered: true } | { covered: false; oldest: string | null };

export interface History {
  /** Changes of `topic` strictly after `after`, oldest first, at most `count`. */
  read(topic: string, after: Position, count: number): Promise<HistoryRecord[]>;
  /** Whether nothing of `topic` after `after` is missing from its history (else the oldest position it holds). */
  covers(topic: string, after: Position): Promise<Coverage>;
  /** Every topic with a history that `pattern` (a bus pattern) matches. */
  topics(pattern: string): Promise<string[]>;
  /**
   * A position at or after every change of `topic` written to the history so far: its stream's
   * last id, or, for a topic without a stream, the history's start (nothing of it was written since
   * then); null when the history never started. See {@link tailOf}.
   */
  tail(topic: string): Promise<string | null>;
}

/** {@link History.tail} from a stream's facts. */
export function tailOf(facts: StreamFacts): string | null {
  const last = facts.exists && facts.lastId !== '' ? positionOfStreamId(facts.lastId) : null;
  if (last) return formatPosition(last.lsn, last.index);
  return parsePosition(facts.start) ? facts.start : null;
}

/** What a stream tells about itself (history-scripts.ts INFO_SCRIPT). */
export interface StreamFacts {
  exists: boolean;
  length: number;
  /** Entries ever added (trimming does not lower it). */
  added: number;
  /** The stream id of the oldest change held, and the last entry id ever added; '' when none. */
  firstId: string;
  lastId: string;
  /** HISTORY_START_KEY: the first position this Redis held history for; '' when it never did. */
  start: string;
}

/**
 * Decides coverage from a stream's facts. Trimming removes the oldest entries only, so a stream
 * misses nothing after `after` when it never dropped an entry, or when its oldest entry (or, empty,
 * its last one) is not after `after`; a table with no stream had no change since the history
 * started. Nothing before the history's start is covered (Redis lost its data, or history was off).
 */
export function coverageOf(facts: StreamFacts, after: Position): Coverage {
  const oldest = facts.firstId !== '' ? positionOfStreamId(facts.firstId) : null;
  const oldestText = oldest ? formatPosition(oldest.lsn, oldest.index) : null;
  const start = parsePosition(facts.start);
  if (!start || comparePositions(after, start) < 0)
    return { covered: false, oldest: oldestText ?? (facts.start || null) };
  if (!facts.exists || facts.length === facts.added) return { covered: true };
  if (oldest && comparePositions(oldest, after) <= 0) return { covered: true };
  const last = positionOfStreamId(facts.lastId);
  if (facts.length === 0 && last && comparePositions(last, after) <= 0) return { covered: true };
  return { covered: false, oldest: oldestText };
}

/** Topics of `all` that `pattern` matches, sorted. */
export function topicsMatching(all: Iterable<string>, pattern: string): string[] {
  return [...all].filter((t) => matchesPattern(pattern, t)).sort();
}
