/**
 * The change history in Redis (history-scripts.ts, cluster-scripts.ts), read on a connection of its
 * own (ioredis): what a gateway reads to catch up or to replay. Commands wait for Redis across
 * reconnects up to `timeoutMs`, then reject: a caller that cannot read the history falls back to
 * telling its clients that changes may have been missed.
 *
 * On a Redis Cluster the history start and the topic index are kept per hash slot (topics.ts, Redis
 * Cluster forms): a topic's coverage is judged against the start of its own slot, read in the same
 * script as its stream (same slot, so atomically), and `topics` reads every slot's index, one
 * pipeline per master.
 */
import type { Cluster, Redis } from 'ioredis';
import {
  HISTORY_START_KEY,
  HISTORY_TOPICS_KEY,
  comparePositions,
  hashSlot,
  historyKeyFor,
  historyStartKeyForSlot,
  positionOfStreamId,
  streamIdOf,
  type Position,
} from '@walcast/protocol';
import { jitteredBackoffMs } from './backoff';
import { readClusterTopics } from './cluster-slots';
import {
  coverageOf,
  tailOf,
  topicsMatching,
  type Coverage,
  type History,
  type HistoryRecord,
  type StreamFacts,
} from './history';
import { unpackEntry } from './history-packs';
import { INFO_SCRIPT } from './history-scripts';
import { loadIoredis, openCluster, type RedisTarget } from './redis-target';

export type HistoryReaderOptions = (
  | { url: string; cluster?: undefined }
  | { cluster: RedisTarget['cluster'] & object; url?: undefined }
) & {
  /** Names the connection in CLIENT LIST. */
  name: string;
  /** How long one read may wait for Redis. */
  timeoutMs?: number;
};

type InfoReply = [number, number, number, string, string, string];
type WithInfo<T> = T & { historyInfo(stream: string, start: string): Promise<InfoReply> };

export class HistoryReader implements History {
  private readonly redis: WithInfo<Redis> | WithInfo<Cluster>;
  private readonly cluster: WithInfo<Cluster> | null;

  constructor(opts: HistoryReaderOptions) {
    const timeoutMs = opts.timeoutMs ?? 5000;
    if (opts.cluster !== undefined) {
      this.cluster = openCluster(opts.cluster, opts.name, {
        lazyConnect: true,
        redisOptions: { commandTimeout: timeoutMs },
      }) as WithInfo<Cluster>;
      this.redis = this.cluster;
    } else {
      this.cluster = null;
      this.redis = new (loadIoredis().Redis)(opts.url, {
        connectionName: opts.name,
        lazyConnect: true,
        maxRetriesPerRequest: null,
        commandTimeout: timeoutMs,
        retryStrategy: (attempt) => jitteredBackoffMs(attempt, 100, 2000),
      }) as WithInfo<Redis>;
    }
    this.redis.on('error', () => undefined); // the bus counts Redis errors
    this.redis.defineCommand('historyInfo', { numberOfKeys: 2, lua: INFO_SCRIPT });
  }

  /**
   * Reads packs (history-packs.ts) until `count` changes are found or the stream ends, asking for as
   * many entries as the changes still missing would fill at the packs' size so far: a stream of
   * single changes takes one XRANGE per page, one of large packs does not bring a page of packs.
   */
  async read(topic: string, after: Position, count: number): Promise<HistoryRecord[]> {
    const key = historyKeyFor(topic);
    const records: HistoryRecord[] = [];
    let from = after;
    let entries = 0;
    for (;;) {
      const perEntry = entries === 0 ? 1 : Math.max(1, records.length / entries);
      const ask = Math.max(1, Math.ceil((count - records.length) / perEntry));
      const page = await this.redis.xrange(key, `(${streamIdOf(from)}`, '+', 'COUNT', ask);
      for (const [id, fields] of page) {
        from = unpackEntry(id, fields, from, records, count);
        const end = positionOfStreamId(id);
        if (end && comparePositions(end, from) > 0) from = end;
        entries++;
        if (records.length >= count) return records;
      }
      if (page.length < ask) return records;
    }
  }

  async covers(topic: string, after: Position): Promise<Coverage> {
    return coverageOf(await this.facts(topic), after);
  }

  async tail(topic: string): Promise<string | null> {
    return tailOf(await this.facts(topic));
  }

  /** What the stream of `topic` tells about itself, with the start of its history (its slot's). */
  private async facts(topic: string): Promise<StreamFacts> {
    const startKey = this.cluster ? historyStartKeyForSlot(hashSlot(topic)) : HISTORY_START_KEY;
    const [exists, length, added, firstId, lastId, start] = await this.redis.historyInfo(
      historyKeyFor(topic),
      startKey,
    );
    return { exists: exists === 1, length: Number(length), added: Number(added), firstId, lastId, start };
  }

  async topics(pattern: string): Promise<string[]> {
    if (this.cluster) {
      if (this.cluster.status === 'wait') await this.cluster.connect();
      return topicsMatching(await readClusterTopics(this.cluster), pattern);
    }
    return topicsMatching(await (this.redis as Redis).smembers(HISTORY_TOPICS_KEY), pattern);
  }

  close(): void {
    this.redis.disconnect();
  }
}
