// Helpers shared by the ingester's integration tests: a Redis pub/sub tap that decodes bus
// envelopes, and small queries on the replication slot. Not a test file itself.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

import {
  decodeBroadcastMessage,
  decodeBusMessage,
  historyKeyFor,
  parseBroadcastTopic,
  topicForTable,
  patternForAll,
  type BroadcastHeader,
  type BusHeader,
} from '@walcast/protocol';
import { sql } from '@walcast/test-utils';

import { lsnFromText, type Lsn } from '../src/replication/lsn';

/** The part of ioredis's client these tests use (ioredis is a dependency of test-utils, not of the ingester). */
interface RedisClient {
  psubscribe(...patterns: string[]): Promise<unknown>;
  xrange(key: string, start: string, end: string): Promise<Array<[string, string[]]>>;
  on(event: 'pmessage', listener: (pattern: string, channel: string, message: string) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  quit(): Promise<unknown>;
  disconnect(): void;
}
type RedisConstructor = new (url: string, options?: Record<string, unknown>) => RedisClient;

const requireFromTestUtils = createRequire(resolve(__dirname, '../../../packages/test-utils/package.json'));
const { Redis } = requireFromTestUtils('ioredis') as { Redis: RedisConstructor };

/** The ids of the rows of `schema.table` whose changes are in the table's history stream. */
export async function historyRowIds(url: string, schema: string, table: string): Promise<unknown[]> {
  const redis = new Redis(url);
  try {
    const entries = await redis.xrange(historyKeyFor(topicForTable(schema, table)), '-', '+');
    return entries.map(([, fields]) => {
      const { eventJson } = decodeBusMessage(fields[1]!);
      return (JSON.parse(eventJson) as { record?: Record<string, unknown> }).record?.['id'];
    });
  } finally {
    redis.disconnect();
  }
}

/** One decoded Redis message. */
export interface TapMessage {
  channel: string;
  header: BusHeader;
  event: Record<string, unknown> & { type: string; record?: Record<string, unknown> };
  /** The event's JSON text as published. */
  eventJson: string;
}

/** A Redis subscriber on `pattern` that decodes every envelope it receives. */
export class BusTap {
  /** Every message, in arrival order (unless `keep` was false). */
  readonly messages: TapMessage[] = [];
  /** Messages that failed to decode, with the reason. */
  readonly malformed: string[] = [];
  count = 0;

  private constructor(
    private readonly client: RedisClient,
    private readonly keep: boolean,
    private readonly onMessage?: (msg: TapMessage) => void,
  ) {
    client.on('error', () => undefined); // reconnects by itself (autoResubscribe)
    client.on('pmessage', (_pattern, channel, text) => {
      let msg: TapMessage;
      try {
        const { header, eventJson } = decodeBusMessage(text);
        msg = { channel, header, eventJson, event: JSON.parse(eventJson) as TapMessage['event'] };
      } catch (err) {
        this.malformed.push(`${(err as Error).message}: ${text.slice(0, 200)}`);
        return;
      }
      this.count++;
      if (this.keep) this.messages.push(msg);
      this.onMessage?.(msg);
    });
  }

  /** Resolves once Redis confirmed the PSUBSCRIBE. */
  static async open(
    url: string,
    opts: { pattern?: string; keep?: boolean; onMessage?: (msg: TapMessage) => void } = {},
  ): Promise<BusTap> {
    const client = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    const tap = new BusTap(client, opts.keep ?? true, opts.onMessage);
    await client.psubscribe(opts.pattern ?? patternForAll());
    return tap;
  }

  /** Messages of `public.<table>`, by event `table` field. */
  ofTable(table: string, schema = 'public'): TapMessage[] {
    return this.messages.filter((m) => m.event['table'] === table && m.event['schema'] === schema);
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }
}

/** One decoded broadcast envelope. */
export interface BroadcastTapMessage {
  channel: string;
  subtopic: string;
  isPrivate: boolean;
  header: BroadcastHeader;
  payloadText: string;
}

/** A Redis subscriber on every broadcast topic that decodes their envelopes. */
export class BroadcastTap {
  readonly messages: BroadcastTapMessage[] = [];
  readonly malformed: string[] = [];

  private constructor(private readonly client: RedisClient) {
    client.on('error', () => undefined);
    client.on('pmessage', (_pattern, channel, text) => {
      const topic = parseBroadcastTopic(channel);
      try {
        if (!topic) throw new Error(`not a broadcast topic: ${channel}`);
        const { header, payloadText } = decodeBroadcastMessage(text);
        this.messages.push({
          channel,
          subtopic: topic.subtopic,
          isPrivate: topic.isPrivate,
          header,
          payloadText,
        });
      } catch (err) {
        this.malformed.push(`${(err as Error).message}: ${text.slice(0, 200)}`);
      }
    });
  }

  static async open(url: string): Promise<BroadcastTap> {
    const client = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 50 });
    const tap = new BroadcastTap(client);
    await client.psubscribe('walcast:v1:broadcast:*');
    return tap;
  }

  /** Messages of one subtopic, in arrival order. */
  of(subtopic: string): BroadcastTapMessage[] {
    return this.messages.filter((m) => m.subtopic === subtopic);
  }

  /** JSON payloads of one subtopic, parsed. */
  payloads(subtopic: string): Array<Record<string, unknown>> {
    return this.of(subtopic)
      .filter((m) => m.header.enc === 'json')
      .map((m) => JSON.parse(m.payloadText) as Record<string, unknown>);
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => undefined);
    this.client.disconnect();
  }
}

/** The value of one series in a Prometheus text scrape of the ingester (undefined when absent). */
export async function metricValue(healthPort: number, series: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

export interface SlotRow {
  plugin: string;
  active: boolean;
  confirmed: Lsn | null;
}

/** The slot's row in pg_replication_slots, or null when there is none. */
export async function slotRow(url: string, slot = 'walcast'): Promise<SlotRow | null> {
  const rows = await sql(
    url,
    `select plugin, active, confirmed_flush_lsn::text as lsn from pg_replication_slots where slot_name = '${slot}'`,
  );
  const row = rows[0];
  if (!row) return null;
  return {
    plugin: String(row['plugin']),
    active: row['active'] === true,
    confirmed: typeof row['lsn'] === 'string' ? lsnFromText(row['lsn']) : null,
  };
}

/** The slot's confirmed_flush_lsn (0 when it has none). */
export async function confirmedLsn(url: string, slot = 'walcast'): Promise<Lsn> {
  return (await slotRow(url, slot))?.confirmed ?? 0n;
}

/** pg_current_wal_lsn(). */
export async function currentWalLsn(url: string): Promise<Lsn> {
  const rows = await sql(url, 'select pg_current_wal_lsn()::text as lsn');
  return lsnFromText(String(rows[0]?.['lsn']));
}

/** The HTTP status of the ingester's `/readyz` (0 when nothing answers). */
export async function readyStatus(healthPort: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${healthPort}/readyz`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  }
}

/** Resolves after `ms`; only for "nothing must happen during this time" checks, never to synchronise. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Log records at `level` whose `code` is `code`. */
export function logsWithCode(
  logs: ReadonlyArray<Record<string, unknown>>,
  code: string,
  level = 'warn',
): Array<Record<string, unknown>> {
  return logs.filter((l) => l['level'] === level && l['code'] === code);
}
