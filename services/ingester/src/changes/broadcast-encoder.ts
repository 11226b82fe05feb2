/**
 * Turns an INSERT into `realtime.messages` (a message sent from SQL with `realtime.send`) into a
 * broadcast for the topic `topicForBroadcast(row.topic, row.private)`. Pure.
 *
 * Invariants:
 * - Rows of `realtime.messages` (and of `realtime.messages_*`, the partitions of a table created
 *   by Supabase's own migrations) are never table changes: {@link isMessagesRelation} tells the
 *   session to route them here and nowhere else, whatever the user's publication holds, since a
 *   private message must not reach `postgres_changes` subscribers.
 * - Only INSERTs with `extension = 'broadcast'` become broadcasts; every other row is skipped.
 * - A row that cannot be delivered (no topic or event, both or neither payload, a payload over
 *   `maxBytes`) is reported as dropped with a reason, never thrown: the stream goes on.
 * - The JSON payload is spliced as PostgreSQL printed it (jsonb output is valid JSON); a binary
 *   payload (bytea in hex output) becomes base64.
 */
import { topicForBroadcast, type BroadcastEncoding } from '@walcast/protocol';
import type { InsertMessage, RelationMessage } from './pgoutput-decoder';

/** One broadcast, ready to publish. */
export interface EncodedBroadcast {
  topic: string;
  event: string;
  enc: BroadcastEncoding;
  /** JSON text (`json`) or base64 (`binary`). */
  payloadText: string;
  /** The row's id: the frame's `meta.id` (null when the row has none). */
  id: string | null;
}

export type DropReason = 'invalid' | 'too_large';

export type BroadcastResult =
  | { kind: 'broadcast'; broadcast: EncodedBroadcast }
  | { kind: 'skipped' }
  | { kind: 'dropped'; reason: DropReason; detail: string; id: string | null };

/** Whether a relation's rows are messages sent from SQL (never published as table changes). */
export function isMessagesRelation(relation: { schema: string; name: string }): boolean {
  return (
    relation.schema === 'realtime' && (relation.name === 'messages' || relation.name.startsWith('messages_'))
  );
}

interface Columns {
  topic: number;
  extension: number;
  payload: number;
  binaryPayload: number;
  event: number;
  private: number;
  id: number;
}

export class BroadcastEncoder {
  private readonly columns = new WeakMap<RelationMessage, Columns>();

  constructor(private readonly opts: { maxBytes: number }) {}

  encode(msg: InsertMessage): BroadcastResult {
    const c = this.columnsOf(msg.relation);
    const value = (index: number): string | null => (index < 0 ? null : (msg.newTuple[index] ?? null));
    if (value(c.extension) !== 'broadcast') return { kind: 'skipped' };
    const id = value(c.id);
    const drop = (reason: DropReason, detail: string): BroadcastResult => ({
      kind: 'dropped',
      reason,
      detail,
      id,
    });
    const topic = value(c.topic);
    const event = value(c.event);
    const payload = value(c.payload);
    const binary = value(c.binaryPayload);
    if (!topic) return drop('invalid', 'the row has no topic');
    if (event === null) return drop('invalid', 'the row has no event');
    if (payload !== null && binary !== null)
      return drop('invalid', 'the row has both payload and binary_payload');
    if (payload === null && binary === null)
      return drop('invalid', 'the row has neither payload nor binary_payload');
    const isPrivate = value(c.private) === 't';
    if (payload !== null) {
      const size = Buffer.byteLength(payload, 'utf8');
      if (size > this.opts.maxBytes) return drop('too_large', `payload of ${size} bytes`);
      return {
        kind: 'broadcast',
        broadcast: {
          topic: topicForBroadcast(topic, isPrivate),
          event,
          enc: 'json',
          payloadText: payload,
          id,
        },
      };
    }
    // bytea in hex output: \x followed by two hex digits per byte.
    const hex = binary!.slice(2);
    if (!binary!.startsWith('\\x') || hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) {
      return drop('invalid', 'binary_payload is not in hex output');
    }
    const size = hex.length / 2;
    if (size > this.opts.maxBytes) return drop('too_large', `binary_payload of ${size} bytes`);
    return {
      kind: 'broadcast',
      broadcast: {
        topic: topicForBroadcast(topic, isPrivate),
        event,
        enc: 'binary',
        payloadText: Buffer.from(hex, 'hex').toString('base64'),
        id,
      },
    };
  }

  private columnsOf(relation: RelationMessage): Columns {
    let c = this.columns.get(relation);
    if (!c) {
      const at = (name: string) => relation.columns.findIndex((col) => col.name === name);
      c = {
        topic: at('topic'),
        extension: at('extension'),
        payload: at('payload'),
        binaryPayload: at('binary_payload'),
        event: at('event'),
        private: at('private'),
        id: at('id'),
      };
      this.columns.set(relation, c);
    }
    return c;
  }
}
