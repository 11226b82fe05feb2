import { parseTopic, topicForTable, type ChangeEvent } from '@walcast/protocol';
import { ChangeEncoder, commitTimestamp } from './change-encoder';
import type {
  BeginMessage,
  DeleteMessage,
  InsertMessage,
  RelationMessage,
  ReplicaIdentity,
  TupleData,
  UpdateMessage,
} from './pgoutput-decoder';
import type { PgTypeInfo } from './pg-types';
import { TypeRegistry } from './type-registry';

const OID = { bool: 16, int8: 20, int4: 23, text: 25, json: 114, timestamptz: 1184, jsonb: 3802 } as const;

/** A relation message as the pgoutput decoder builds it; `key` marks replica identity columns (flag 1). */
function relation(
  columns: Array<{ name: string; typeOid: number; key?: boolean }>,
  opts: { schema?: string; name?: string; identity?: ReplicaIdentity; oid?: number } = {},
): RelationMessage {
  return {
    tag: 'relation',
    relationOid: opts.oid ?? 16384,
    schema: opts.schema ?? 'public',
    name: opts.name ?? 'users',
    replicaIdentity: opts.identity ?? 'default',
    columns: columns.map((c) => ({ name: c.name, flags: c.key ? 1 : 0, typeOid: c.typeOid, typeMod: -1 })),
  };
}

type Row = Record<string, string | null | undefined>;

/** A tuple in column order from values by name (a missing name: an unchanged TOAST value). */
function tuple(rel: RelationMessage, row: Row): TupleData {
  return rel.columns.map((c) => row[c.name]);
}

const usersColumns = [
  { name: 'id', typeOid: OID.int8, key: true },
  { name: 'name', typeOid: OID.text },
  { name: 'active', typeOid: OID.bool },
  { name: 'bio', typeOid: OID.text },
];

// 2021-06-22T17:48:20.518844Z
const COMMIT_MICROS = 1_624_384_100_518_844n;

function begin(commitTime: bigint = COMMIT_MICROS): BeginMessage {
  return { tag: 'begin', finalLsn: 0x16b3748n, commitTime, xid: 1 };
}

function encoderAt(commitTime: bigint = COMMIT_MICROS): ChangeEncoder {
  const encoder = new ChangeEncoder(new TypeRegistry());
  encoder.begin(begin(commitTime));
  return encoder;
}

function insert(rel: RelationMessage, row: Row): InsertMessage {
  return { tag: 'insert', relation: rel, newTuple: tuple(rel, row) };
}

function update(
  rel: RelationMessage,
  row: Row,
  old: Row | null = null,
  key: Row | null = null,
): UpdateMessage {
  return {
    tag: 'update',
    relation: rel,
    newTuple: tuple(rel, row),
    oldTuple: old && tuple(rel, old),
    keyTuple: key && tuple(rel, key),
  };
}

function del(rel: RelationMessage, old: Row | null, key: Row | null = null): DeleteMessage {
  return { tag: 'delete', relation: rel, oldTuple: old && tuple(rel, old), keyTuple: key && tuple(rel, key) };
}

/** Parses the encoded JSON (failing the test if it is not valid) as a change event. */
function parsed(json: string): ChangeEvent & Record<string, unknown> {
  return JSON.parse(json) as ChangeEvent & Record<string, unknown>;
}

describe('commitTimestamp', () => {
  it('writes ISO-8601 UTC with PostgreSQL microseconds and a Z', () => {
    expect(commitTimestamp(COMMIT_MICROS)).toBe('2021-06-22T17:48:20.518844Z');
  });

  it('keeps leading zeros of the fraction', () => {
    expect(commitTimestamp(1_624_384_100_000_001n)).toBe('2021-06-22T17:48:20.000001Z');
    expect(commitTimestamp(1_624_384_100_000_000n)).toBe('2021-06-22T17:48:20.000000Z');
  });

  it('writes the Unix epoch', () => {
    expect(commitTimestamp(0n)).toBe('1970-01-01T00:00:00.000000Z');
  });

  it('handles the PostgreSQL epoch offset the library adds', () => {
    expect(commitTimestamp(946_684_800_000_000n + 999_999n)).toBe('2000-01-01T00:00:00.999999Z');
  });
});

describe('ChangeEncoder: INSERT', () => {
  const rel = relation(usersColumns);

  it('encodes valid JSON with typed values, columns and the table topic', () => {
    const change = encoderAt().encode(insert(rel, { id: '1', name: 'Ann', active: 't', bio: 'x' }));
    expect(change.topic).toBe(topicForTable('public', 'users'));
    expect(change.type).toBe('INSERT');
    expect(parsed(change.json)).toEqual({
      type: 'INSERT',
      schema: 'public',
      table: 'users',
      commit_timestamp: '2021-06-22T17:48:20.518844Z',
      columns: [
        { name: 'id', type: 'int8' },
        { name: 'name', type: 'text' },
        { name: 'active', type: 'bool' },
        { name: 'bio', type: 'text' },
      ],
      record: { id: 1, name: 'Ann', active: true, bio: 'x' },
      errors: null,
      position: '00000000016B3748-00000000',
    });
  });

  it('keeps the exact digits of int8 values beyond 2^53', () => {
    const change = encoderAt().encode(
      insert(rel, { id: '9007199254740993', name: null, active: null, bio: null }),
    );
    expect(change.json).toContain('"record":{"id":9007199254740993,');
    expect(() => parsed(change.json)).not.toThrow();
  });

  it('writes NULL as null', () => {
    const event = parsed(
      encoderAt().encode(insert(rel, { id: '1', name: null, active: null, bio: null })).json,
    );
    expect(event).toMatchObject({ record: { id: 1, name: null, active: null, bio: null } });
  });

  it('leaves an unchanged TOAST value (undefined) out of record', () => {
    const event = parsed(
      encoderAt().encode(insert(rel, { id: '1', name: 'a', active: 'f', bio: undefined })).json,
    );
    expect(event.type === 'INSERT' && Object.keys(event.record)).toEqual(['id', 'name', 'active']);
  });

  it('stays valid JSON for awkward names and values', () => {
    const odd = relation(
      [
        { name: 'we"ird\ncol', typeOid: OID.text, key: true },
        { name: 'doc', typeOid: OID.json },
        { name: 'data', typeOid: OID.jsonb },
      ],
      { schema: 'my "schema"', name: 'tab\\le' },
    );
    const change = encoderAt().encode(
      insert(odd, {
        'we"ird\ncol': 'line1\nline2 "q" \\ \u0001',
        doc: '{\n  "a": [1, 2]\n}',
        data: '{"b": null}',
      }),
    );
    expect(parseTopic(change.topic)).toEqual({ schema: 'my "schema"', table: 'tab\\le' });
    expect(parsed(change.json)).toMatchObject({
      schema: 'my "schema"',
      table: 'tab\\le',
      record: { 'we"ird\ncol': 'line1\nline2 "q" \\ \u0001', doc: { a: [1, 2] }, data: { b: null } },
    });
  });

  it('reports a value whose conversion throws in errors and sends it as a string', () => {
    const registry = new TypeRegistry();
    const broken = {
      oid: 99999,
      name: 'broken',
      get kind(): PgTypeInfo['kind'] {
        throw new Error('boom');
      },
    } as PgTypeInfo;
    const get = registry.get.bind(registry);
    jest.spyOn(registry, 'get').mockImplementation((oid) => (oid === 99999 ? broken : get(oid)));
    const encoder = new ChangeEncoder(registry);
    encoder.begin(begin());
    const rel2 = relation([
      { name: 'id', typeOid: OID.int4, key: true },
      { name: 'b', typeOid: 99999 },
    ]);
    const event = parsed(encoder.encode(insert(rel2, { id: '1', b: 'raw text' })).json);
    expect(event).toMatchObject({
      record: { id: 1, b: 'raw text' },
      errors: ['Error decoding column b (broken): boom'],
    });
  });
});

describe('ChangeEncoder: UPDATE old_record', () => {
  it('DEFAULT identity, key unchanged: key columns from the new row', () => {
    const rel = relation(usersColumns);
    const event = parsed(encoderAt().encode(update(rel, { id: '7', name: 'B', active: 'f', bio: 'y' })).json);
    expect(event).toMatchObject({
      type: 'UPDATE',
      record: { id: 7, name: 'B', active: false, bio: 'y' },
      old_record: { id: 7 },
    });
    expect(event.type === 'UPDATE' && event.old_record).toEqual({ id: 7 });
  });

  it('DEFAULT identity, key changed: key columns from the key tuple', () => {
    const rel = relation(usersColumns);
    const key = { id: '6', name: undefined, active: undefined, bio: undefined };
    const event = parsed(
      encoderAt().encode(update(rel, { id: '7', name: 'B', active: 'f', bio: 'y' }, null, key)).json,
    );
    expect(event.type === 'UPDATE' && event.old_record).toEqual({ id: 6 });
  });

  it('INDEX identity behaves like DEFAULT', () => {
    const rel = relation(
      [
        { name: 'id', typeOid: OID.int4 },
        { name: 'email', typeOid: OID.text, key: true },
      ],
      { identity: 'index' },
    );
    const event = parsed(encoderAt().encode(update(rel, { id: '1', email: 'a@b' })).json);
    expect(event.type === 'UPDATE' && event.old_record).toEqual({ email: 'a@b' });
  });

  it('DEFAULT identity with a composite key keeps every key column', () => {
    const rel = relation([
      { name: 'a', typeOid: OID.int4, key: true },
      { name: 'b', typeOid: OID.text, key: true },
      { name: 'v', typeOid: OID.text },
    ]);
    const event = parsed(encoderAt().encode(update(rel, { a: '1', b: 'x', v: 'new' })).json);
    expect(event.type === 'UPDATE' && event.old_record).toEqual({ a: 1, b: 'x' });
  });

  it('FULL identity: the whole old row', () => {
    const rel = relation(
      usersColumns.map((c) => ({ ...c, key: true })),
      { identity: 'full' },
    );
    const old = { id: '1', name: 'Ann', active: 't', bio: null };
    const event = parsed(
      encoderAt().encode(update(rel, { id: '1', name: 'Bob', active: 't', bio: 'z' }, old)).json,
    );
    expect(event).toMatchObject({
      record: { id: 1, name: 'Bob', active: true, bio: 'z' },
      old_record: { id: 1, name: 'Ann', active: true, bio: null },
    });
  });

  it('FULL identity takes every column even when the relation flags only some as key', () => {
    const rel = relation(usersColumns, { identity: 'full' });
    const old = { id: '1', name: 'Ann', active: 't', bio: 'b' };
    const event = parsed(
      encoderAt().encode(update(rel, { id: '1', name: 'Bob', active: 't', bio: 'b' }, old)).json,
    );
    expect(event.type === 'UPDATE' && event.old_record).toEqual({
      id: 1,
      name: 'Ann',
      active: true,
      bio: 'b',
    });
  });

  it('NOTHING identity: an empty old_record', () => {
    const rel = relation(
      usersColumns.map((c) => ({ ...c, key: false })),
      { identity: 'nothing' },
    );
    const event = parsed(encoderAt().encode(update(rel, { id: '1', name: 'x', active: 't', bio: 'y' })).json);
    expect(event.type === 'UPDATE' && event.old_record).toEqual({});
  });

  it('leaves an unchanged TOAST value out of record and old_record when nobody sent it', () => {
    const rel = relation(usersColumns);
    const event = parsed(
      encoderAt().encode(update(rel, { id: '1', name: 'x', active: 't', bio: undefined })).json,
    );
    expect(event.type === 'UPDATE' && event.record).toEqual({ id: 1, name: 'x', active: true });
    expect(event.type === 'UPDATE' && event.old_record).toEqual({ id: 1 });
    expect(JSON.stringify(event)).not.toContain('unchanged');
  });
});

describe('ChangeEncoder: DELETE', () => {
  it('DEFAULT identity: key columns from the key tuple, no record', () => {
    const rel = relation(usersColumns);
    const change = encoderAt().encode(
      del(rel, null, { id: '3', name: undefined, active: undefined, bio: undefined }),
    );
    expect(change.type).toBe('DELETE');
    const event = parsed(change.json);
    expect(event).toEqual({
      type: 'DELETE',
      schema: 'public',
      table: 'users',
      commit_timestamp: '2021-06-22T17:48:20.518844Z',
      columns: expect.any(Array),
      old_record: { id: 3 },
      errors: null,
      position: '00000000016B3748-00000000',
    });
    expect(event).not.toHaveProperty('record');
  });

  it('FULL identity: the whole old row', () => {
    const rel = relation(usersColumns, { identity: 'full' });
    const event = parsed(encoderAt().encode(del(rel, { id: '3', name: 'n', active: 'f', bio: null })).json);
    expect(event.type === 'DELETE' && event.old_record).toEqual({
      id: 3,
      name: 'n',
      active: false,
      bio: null,
    });
  });

  it('without key or old tuple: an empty old_record', () => {
    const rel = relation(usersColumns);
    expect(parsed(encoderAt().encode(del(rel, null, null)).json)).toMatchObject({ old_record: {} });
  });
});

describe('ChangeEncoder: positions', () => {
  it('numbers the changes of a transaction from 0 after its commit LSN, and starts again at the next', () => {
    const encoder = encoderAt();
    const rel = relation(usersColumns);
    const row = { id: '1', name: 'a', active: 't', bio: null };
    const first = encoder.encode(insert(rel, row));
    const second = encoder.encode(insert(rel, row));
    expect([first.stamp, second.stamp]).toEqual([
      { position: '00000000016B3748-00000000', streamId: `${0x16b3748}-0` },
      { position: '00000000016B3748-00000001', streamId: `${0x16b3748}-1` },
    ]);
    expect(parsed(second.json)).toMatchObject({ position: '00000000016B3748-00000001' });
    encoder.begin({ tag: 'begin', finalLsn: 0x16b3800n, commitTime: COMMIT_MICROS, xid: 2 });
    expect(encoder.encode(insert(rel, row)).stamp.position).toBe('00000000016B3800-00000000');
  });
});

describe('ChangeEncoder: TRUNCATE', () => {
  it('encodes one TRUNCATE event per relation, on each table topic', () => {
    const a = relation(usersColumns, { name: 'users', oid: 1 });
    const b = relation(usersColumns, { schema: 'other', name: 'orders', oid: 2 });
    const changes = encoderAt().encodeTruncate({
      tag: 'truncate',
      cascade: false,
      restartIdentity: false,
      relations: [a, b],
    });
    expect(changes.map((c) => [c.topic, c.type])).toEqual([
      [topicForTable('public', 'users'), 'TRUNCATE'],
      [topicForTable('other', 'orders'), 'TRUNCATE'],
    ]);
    expect(parsed(changes[1]!.json)).toEqual({
      type: 'TRUNCATE',
      schema: 'other',
      table: 'orders',
      commit_timestamp: '2021-06-22T17:48:20.518844Z',
      errors: null,
      position: '00000000016B3748-00000001',
    });
  });

  it('skips relations that could not be resolved', () => {
    const a = relation(usersColumns);
    const changes = encoderAt().encodeTruncate({
      tag: 'truncate',
      cascade: true,
      restartIdentity: false,
      relations: [undefined as unknown as RelationMessage, a],
    });
    expect(changes).toHaveLength(1);
  });
});

describe('ChangeEncoder: transactions and relations', () => {
  it('stamps each change with the commit time of its transaction', () => {
    const rel = relation(usersColumns);
    const encoder = encoderAt(COMMIT_MICROS);
    const first = parsed(encoder.encode(insert(rel, { id: '1', name: 'a', active: 't', bio: null })).json);
    encoder.begin(begin(COMMIT_MICROS + 1n));
    const second = parsed(encoder.encode(insert(rel, { id: '2', name: 'b', active: 't', bio: null })).json);
    expect(first.commit_timestamp).toBe('2021-06-22T17:48:20.518844Z');
    expect(second.commit_timestamp).toBe('2021-06-22T17:48:20.518845Z');
  });

  it('uses the new columns after a new relation message (ALTER TABLE)', () => {
    const encoder = encoderAt();
    const before = relation([{ name: 'id', typeOid: OID.int4, key: true }]);
    const after = relation([
      { name: 'id', typeOid: OID.int4, key: true },
      { name: 'added', typeOid: OID.text },
    ]);
    encoder.encode(insert(before, { id: '1' }));
    const event = parsed(encoder.encode(insert(after, { id: '2', added: 'x' })).json);
    expect(event).toMatchObject({
      columns: [
        { name: 'id', type: 'int4' },
        { name: 'added', type: 'text' },
      ],
      record: { id: 2, added: 'x' },
    });
  });

  it('names columns of unknown types by OID and sends their text as strings', () => {
    const encoder = encoderAt();
    const rel = relation([{ name: 'c', typeOid: 77777 }]);
    expect(encoder.unknownTypeOids(rel)).toEqual([77777]);
    expect(parsed(encoder.encode(insert(rel, { c: '(1,2)' })).json)).toMatchObject({
      columns: [{ name: 'c', type: '77777' }],
      record: { c: '(1,2)' },
      errors: null,
    });
  });

  it('reports no unknown OIDs for built-in types', () => {
    expect(encoderAt().unknownTypeOids(relation(usersColumns))).toEqual([]);
  });
});
