/**
 * Replay of stored broadcasts (`config.broadcast.replay: {since, limit}` on a private channel whose
 * read permission was checked): the messages sent from the database to the topic since `since`, at
 * most `limit` (≤ 25), newest kept, delivered oldest first with `meta: {id, replayed: true}`.
 *
 * realtime.messages.inserted_at defaults to clock_timestamp() in walcast's schema, so the messages
 * of one transaction replay in the order they were sent (the reference's now() reverses them).
 * Times are UTC `timestamp` values, as the reference stores them.
 */
import { BROADCAST_MESSAGE_VERSION, type BroadcastMessage } from '@walcast/protocol';
import type { Queryable } from './queryable';

const REPLAY_SQL = `
select id::text as id, event, payload::text as payload, binary_payload
from (
  select id, event, payload, binary_payload, inserted_at
  from realtime.messages
  where topic = $1 and private and extension = 'broadcast'
    and inserted_at >= timezone('utc', to_timestamp($2::float8 / 1000))
    and inserted_at < timezone('utc', now()) + interval '1 minute'
  order by inserted_at desc
  limit $3
) newest
order by inserted_at asc`;

interface ReplayRow {
  id: string;
  event: string | null;
  payload: string | null;
  binary_payload: Buffer | null;
}

export class MessageReplay {
  constructor(private readonly db: Queryable) {}

  /** The stored messages to replay, oldest first, as bus messages from `src` "replay". */
  async messages(subtopic: string, sinceMs: number, limit: number): Promise<BroadcastMessage[]> {
    const { rows } = await this.db.query<ReplayRow>(REPLAY_SQL, [subtopic, sinceMs, limit]);
    const out: BroadcastMessage[] = [];
    for (const row of rows) {
      const meta = { id: row.id, replayed: true };
      const event = row.event ?? '';
      if (row.binary_payload !== null) {
        out.push({
          header: { v: BROADCAST_MESSAGE_VERSION, src: 'replay', shape: 'user', event, enc: 'binary', meta },
          payloadText: row.binary_payload.toString('base64'),
        });
      } else {
        out.push({
          header: { v: BROADCAST_MESSAGE_VERSION, src: 'replay', shape: 'user', event, enc: 'json', meta },
          payloadText: row.payload ?? 'null',
        });
      }
    }
    return out;
  }
}
