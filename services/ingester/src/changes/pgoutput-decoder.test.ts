import { PgoutputDecodeError, PgoutputDecoder } from './pgoutput-decoder';

// pgoutput protocol version 1 messages, built byte by byte as the walsender sends them
// (https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html).

function int8(v: number): Buffer {
  return Buffer.from([v]);
}
function int16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(v);
  return b;
}
function int32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}
function int64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
}
function str(s: string): Buffer {
  return Buffer.concat([Buffer.from(s), int8(0)]);
}
function char(c: string): Buffer {
  return Buffer.from(c, 'latin1');
}

type Col = string | null | 'u';
function tupleData(values: Col[]): Buffer {
  const parts = [int16(values.length)];
  for (const v of values) {
    if (v === null) parts.push(char('n'));
    else if (v === 'u') parts.push(char('u'));
    else {
      const bytes = Buffer.from(v);
      parts.push(char('t'), int32(bytes.length), bytes);
    }
  }
  return Buffer.concat(parts);
}

const PG_EPOCH_MICROS = 946_684_800_000_000n;
const OID = 3_000_000_000; // above 2^31: read unsigned

function relationMsg(identity = 'd'): Buffer {
  return Buffer.concat([
    char('R'),
    int32(OID),
    str('public'),
    str('users'),
    char(identity),
    int16(3),
    int8(1),
    str('id'),
    int32(20),
    int32(-1),
    int8(0),
    str('name'),
    int32(25),
    int32(-1),
    int8(0),
    str('bio'),
    int32(25),
    int32(-1),
  ]);
}

describe('PgoutputDecoder', () => {
  it('decodes Begin and Commit with LSNs as bigints and times in Unix microseconds', () => {
    const d = new PgoutputDecoder();
    const begin = d.decode(
      Buffer.concat([char('B'), int64(0x16_b374d848n), int64(1_000_000n), int32(4_000_000_000)]),
    );
    expect(begin).toEqual({
      tag: 'begin',
      finalLsn: 0x16_b374d848n,
      commitTime: PG_EPOCH_MICROS + 1_000_000n,
      xid: 4_000_000_000,
    });
    const commit = d.decode(
      Buffer.concat([char('C'), int8(0), int64(0x16_b374d848n), int64(0x16_b374d880n), int64(5n)]),
    );
    expect(commit).toEqual({
      tag: 'commit',
      commitLsn: 0x16_b374d848n,
      endLsn: 0x16_b374d880n,
      commitTime: PG_EPOCH_MICROS + 5n,
    });
  });

  it('decodes a Relation and the rows that refer to it, values as text in column order', () => {
    const d = new PgoutputDecoder();
    const rel = d.decode(relationMsg());
    expect(rel).toEqual({
      tag: 'relation',
      relationOid: OID,
      schema: 'public',
      name: 'users',
      replicaIdentity: 'default',
      columns: [
        { name: 'id', typeOid: 20, typeMod: -1, flags: 1 },
        { name: 'name', typeOid: 25, typeMod: -1, flags: 0 },
        { name: 'bio', typeOid: 25, typeMod: -1, flags: 0 },
      ],
    });
    const insert = d.decode(
      Buffer.concat([char('I'), int32(OID), char('N'), tupleData(['9007199254740993', 'ünï ✓', null])]),
    );
    expect(insert).toEqual({ tag: 'insert', relation: rel, newTuple: ['9007199254740993', 'ünï ✓', null] });
    expect((insert as { relation: unknown }).relation).toBe(rel);
  });

  it('decodes UPDATE without old row, with a changed key, and with the whole old row', () => {
    const d = new PgoutputDecoder();
    const rel = d.decode(relationMsg());
    const plain = d.decode(Buffer.concat([char('U'), int32(OID), char('N'), tupleData(['1', 'a', 'u'])]));
    expect(plain).toEqual({
      tag: 'update',
      relation: rel,
      oldTuple: null,
      keyTuple: null,
      newTuple: ['1', 'a', undefined],
    });
    const keyed = d.decode(
      Buffer.concat([
        char('U'),
        int32(OID),
        char('K'),
        tupleData(['1', null, null]),
        char('N'),
        tupleData(['2', 'a', 'u']),
      ]),
    );
    expect(keyed).toMatchObject({
      keyTuple: ['1', null, null],
      oldTuple: null,
      newTuple: ['2', 'a', undefined],
    });
    // REPLICA IDENTITY FULL: an unchanged TOAST value is taken from the old row
    const full = d.decode(
      Buffer.concat([
        char('U'),
        int32(OID),
        char('O'),
        tupleData(['1', 'a', 'long bio']),
        char('N'),
        tupleData(['1', 'b', 'u']),
      ]),
    );
    expect(full).toMatchObject({
      oldTuple: ['1', 'a', 'long bio'],
      keyTuple: null,
      newTuple: ['1', 'b', 'long bio'],
    });
  });

  it('decodes DELETE with a key or an old row, and TRUNCATE with its flags', () => {
    const d = new PgoutputDecoder();
    const rel = d.decode(relationMsg('f'));
    expect(rel).toMatchObject({ replicaIdentity: 'full' });
    expect(d.decode(Buffer.concat([char('D'), int32(OID), char('K'), tupleData(['1', null, null])]))).toEqual(
      {
        tag: 'delete',
        relation: rel,
        keyTuple: ['1', null, null],
        oldTuple: null,
      },
    );
    expect(d.decode(Buffer.concat([char('D'), int32(OID), char('O'), tupleData(['1', 'a', null])]))).toEqual({
      tag: 'delete',
      relation: rel,
      keyTuple: null,
      oldTuple: ['1', 'a', null],
    });
    expect(d.decode(Buffer.concat([char('T'), int32(1), int8(3), int32(OID)]))).toEqual({
      tag: 'truncate',
      relations: [rel],
      cascade: true,
      restartIdentity: true,
    });
  });

  it('decodes Type, Origin and logical decoding messages to their tag only', () => {
    const d = new PgoutputDecoder();
    expect(d.decode(Buffer.concat([char('Y'), int32(5), str('public'), str('mood')]))).toEqual({
      tag: 'type',
    });
    expect(d.decode(Buffer.concat([char('O'), int64(1n), str('node')]))).toEqual({ tag: 'origin' });
    expect(d.decode(Buffer.concat([char('M'), int8(1), int64(1n), str('p'), int32(0)]))).toEqual({
      tag: 'message',
    });
  });

  it('uses the latest Relation message of a table (after ALTER TABLE)', () => {
    const d = new PgoutputDecoder();
    d.decode(relationMsg());
    const second = d.decode(relationMsg());
    const insert = d.decode(Buffer.concat([char('I'), int32(OID), char('N'), tupleData(['1', 'a', 'b'])]));
    expect((insert as { relation: unknown }).relation).toBe(second);
  });

  it('copies values: later changes to the input buffer do not show', () => {
    const d = new PgoutputDecoder();
    d.decode(relationMsg());
    const buf = Buffer.concat([char('I'), int32(OID), char('N'), tupleData(['1', 'abc', null])]);
    const insert = d.decode(buf) as { newTuple: unknown[] };
    buf.fill(0x41);
    expect(insert.newTuple).toEqual(['1', 'abc', null]);
  });

  it.each([
    ['an unknown tag', Buffer.from('Z')],
    ['a row before its relation', Buffer.concat([char('I'), int32(42), char('N'), tupleData(['1'])])],
    ['a truncated message', Buffer.concat([char('B'), int64(1n)])],
    [
      'a cut-off value',
      Buffer.concat([char('I'), int32(OID), char('N'), int16(1), char('t'), int32(10), char('ab')]),
    ],
    [
      'a binary value',
      Buffer.concat([char('I'), int32(OID), char('N'), int16(1), char('b'), int32(1), char('a')]),
    ],
    ['too many columns', Buffer.concat([char('I'), int32(OID), char('N'), tupleData(['1', '2', '3', '4'])])],
    ['an unknown replica identity', relationMsg('x')],
  ])('throws PgoutputDecodeError for %s', (_name, buf) => {
    const d = new PgoutputDecoder();
    d.decode(relationMsg());
    expect(() => d.decode(buf)).toThrow(PgoutputDecodeError);
  });
});
