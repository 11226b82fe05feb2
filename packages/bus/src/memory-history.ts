/** The change history in memory, kept by {@link MemoryBus} for unit tests; same contract as HistoryReader. */
import { comparePositions, parsePosition, type Position } from '@walcast/protocol';
import {
  coverageOf,
  tailOf,
  topicsMatching,
  type Coverage,
  type History,
  type HistoryRecord,
  type StreamFacts,
} from './history';
import type { HistoryEntry } from './history-batch';

export class MemoryHistory implements History {
  private readonly streams = new Map<string, { records: HistoryRecord[]; added: number; lastId: string }>();
  private start = '';

  constructor(private readonly maxLen = 10_000) {}

  append(topic: string, message: string, entry: HistoryEntry): void {
    const position = parsePosition(entry.position);
    if (!position) return;
    if (this.start === '') this.start = entry.position;
    let stream = this.streams.get(topic);
    if (!stream) this.streams.set(topic, (stream = { records: [], added: 0, lastId: '' }));
    const last = stream.records[stream.records.length - 1];
    if (last && comparePositions(position, last.position) <= 0) return;
    stream.records.push({ position, message });
    stream.added++;
    stream.lastId = entry.streamId;
    if (stream.records.length > this.maxLen) stream.records.shift();
  }

  /** Forgets everything (a Redis that lost its data). */
  clear(): void {
    this.streams.clear();
    this.start = '';
  }

  read(topic: string, after: Position, count: number): Promise<HistoryRecord[]> {
    const records = this.streams.get(topic)?.records ?? [];
    return Promise.resolve(records.filter((r) => comparePositions(r.position, after) > 0).slice(0, count));
  }

  covers(topic: string, after: Position): Promise<Coverage> {
    return Promise.resolve(coverageOf(this.facts(topic), after));
  }

  tail(topic: string): Promise<string | null> {
    return Promise.resolve(tailOf(this.facts(topic)));
  }

  private facts(topic: string): StreamFacts {
    const stream = this.streams.get(topic);
    const first = stream?.records[0]?.position;
    return {
      exists: stream !== undefined,
      length: stream?.records.length ?? 0,
      added: stream?.added ?? 0,
      firstId: first ? `${first.lsn}-${first.index}` : '',
      lastId: stream?.lastId ?? '',
      start: this.start,
    };
  }

  topics(pattern: string): Promise<string[]> {
    return Promise.resolve(topicsMatching(this.streams.keys(), pattern));
  }
}
