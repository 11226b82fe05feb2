/**
 * The change history in Redis (history-scripts.ts), read on a connection of its own (ioredis):
 * what a gateway reads to catch up or to replay. Commands wait for Redis across reconnects up to
 * `timeoutMs`, then reject: a caller that cannot read the history falls back to telling its
 * clients that changes may have been missed.
 */
import type * as IORedis from 'ioredis';
import type { Redis } from 'ioredis';
import {
  HISTORY_START_KEY,
  HISTORY_TOPICS_KEY,
  historyKeyFor,
  positionOfStreamId,
  streamIdOf,
  type Position,
} from '@walcast/protocol';
import { jitteredBackoffMs } from './backoff';
import { coverageOf, topicsMatching, type Coverage, type History, type HistoryRecord } from './history';
import { INFO_SCRIPT } from './history-scripts';

export interface HistoryReaderOptions {
  url: string;
  /** Names the connection in CLIENT LIST. */
  name: string;
  /** How long one read may wait for Redis. */
  timeoutMs?: number;
}

type InfoReply = [number, number, number, string, string, string];

export class HistoryReader implements History {
  private readonly redis: Redis & {
    historyInfo(stream: string, start: string): Promise<InfoReply>;
  };

  constructor(opts: HistoryReaderOptions) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Redis: RedisClient } = require('ioredis') as typeof IORedis;
    this.redis = new RedisClient(opts.url, {
      connectionName: opts.name,
      lazyConnect: true,
      maxRetriesPerRequest: null,
      commandTimeout: opts.timeoutMs ?? 5000,
      retryStrategy: (attempt) => jitteredBackoffMs(attempt, 100, 2000),
    }) as HistoryReader['redis'];
    this.redis.on('error', () => undefined); // the bus counts Redis errors
    this.redis.defineCommand('historyInfo', { numberOfKeys: 2, lua: INFO_SCRIPT });
  }

  async read(topic: string, after: Position, count: number): Promise<HistoryRecord[]> {
    const entries = await this.redis.xrange(
      historyKeyFor(topic),
      `(${streamIdOf(after)}`,
      '+',
      'COUNT',
      count,
    );
    const records: HistoryRecord[] = [];
    for (const [id, fields] of entries) {
      const position = positionOfStreamId(id);
      const message = fields[1];
      if (position && fields[0] === 'm' && message !== undefined) records.push({ position, message });
    }
    return records;
  }

  async covers(topic: string, after: Position): Promise<Coverage> {
    const [exists, length, added, firstId, lastId, start] = await this.redis.historyInfo(
      historyKeyFor(topic),
      HISTORY_START_KEY,
    );
    return coverageOf(
      { exists: exists === 1, length: Number(length), added: Number(added), firstId, lastId, start },
      after,
    );
  }

  async topics(pattern: string): Promise<string[]> {
    return topicsMatching(await this.redis.smembers(HISTORY_TOPICS_KEY), pattern);
  }

  close(): void {
    this.redis.disconnect();
  }
}
