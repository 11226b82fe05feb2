import { topicForBroadcast } from '@walcast/protocol';
import { BroadcastEncoder, isMessagesRelation } from './broadcast-encoder';
import type { InsertMessage, RelationMessage } from './pgoutput-decoder';

const NAMES = [
  'topic',
  'extension',
  'payload',
  'event',
  'private',
  'updated_at',
  'inserted_at',
  'id',
  'binary_payload',
];
const relation: RelationMessage = {
  tag: 'relation',
  relationOid: 1,
  schema: 'realtime',
  name: 'messages',
  replicaIdentity: 'default',
  columns: NAMES.map((name) => ({ name, typeOid: 25, typeMod: -1, flags: 0 })),
};
const ID = '5b0c7f4e-8a51-4c1e-9a43-0d8a35f0a001';

function insert(row: Partial<Record<string, string | null>>): InsertMessage {
  const full: Record<string, string | null> = {
    topic: 'room',
    extension: 'broadcast',
    payload: '{"a": 1}',
    event: 'e',
    private: 't',
    id: ID,
    binary_payload: null,
    ...row,
  };
  return { tag: 'insert', relation, newTuple: NAMES.map((n) => full[n] ?? null) };
}

const encoder = new BroadcastEncoder({ maxBytes: 16 });

describe('isMessagesRelation', () => {
  it('matches realtime.messages and its partitions only', () => {
    expect(isMessagesRelation({ schema: 'realtime', name: 'messages' })).toBe(true);
    expect(isMessagesRelation({ schema: 'realtime', name: 'messages_2026_01_01' })).toBe(true);
    expect(isMessagesRelation({ schema: 'public', name: 'messages' })).toBe(false);
    expect(isMessagesRelation({ schema: 'realtime', name: 'subscription' })).toBe(false);
  });
});

describe('BroadcastEncoder', () => {
  it('splices the JSON payload and names the private or public topic', () => {
    expect(encoder.encode(insert({}))).toEqual({
      kind: 'broadcast',
      broadcast: {
        topic: topicForBroadcast('room', true),
        event: 'e',
        enc: 'json',
        payloadText: '{"a": 1}',
        id: ID,
      },
    });
    const pub = encoder.encode(insert({ private: 'f' }));
    expect(pub.kind === 'broadcast' && pub.broadcast.topic).toBe(topicForBroadcast('room', false));
    const nullPrivate = encoder.encode(insert({ private: null }));
    expect(nullPrivate.kind === 'broadcast' && nullPrivate.broadcast.topic).toBe(
      topicForBroadcast('room', false),
    );
  });

  it('turns bytea hex output into base64', () => {
    const r = encoder.encode(insert({ payload: null, binary_payload: '\\x00ff10' }));
    expect(r).toMatchObject({ kind: 'broadcast', broadcast: { enc: 'binary', payloadText: 'AP8Q' } });
  });

  it('skips rows of other extensions', () => {
    expect(encoder.encode(insert({ extension: 'presence' }))).toEqual({ kind: 'skipped' });
  });

  it.each([
    [{ topic: null }, 'invalid'],
    [{ topic: '' }, 'invalid'],
    [{ event: null }, 'invalid'],
    [{ binary_payload: '\\x00' }, 'invalid'],
    [{ payload: null }, 'invalid'],
    [{ payload: null, binary_payload: 'zz' }, 'invalid'],
    [{ payload: `"${'x'.repeat(20)}"` }, 'too_large'],
    [{ payload: null, binary_payload: `\\x${'00'.repeat(17)}` }, 'too_large'],
  ])('drops %j as %s', (row, reason) => {
    expect(encoder.encode(insert(row))).toMatchObject({ kind: 'dropped', reason, id: ID });
  });

  it('accepts a payload of exactly maxBytes (in UTF-8 bytes)', () => {
    expect(encoder.encode(insert({ payload: `"${'x'.repeat(14)}"` })).kind).toBe('broadcast');
    expect(encoder.encode(insert({ payload: `"${'é'.repeat(8)}"` })).kind).toBe('dropped');
  });
});
