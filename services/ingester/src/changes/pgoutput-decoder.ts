/**
 * pgoutput (protocol version 1) messages, and their decoder: one XLogData payload → one
 * {@link WalMessage}. Pure; imports nothing. Field names follow
 * https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html.
 *
 * Why not pg-logical-replication's parser: it builds a dictionary-mode object per tuple and a
 * TextDecoder call per column, which was a third of the ingester's CPU per row. This decoder keeps
 * tuples as arrays in column order and slices column text straight out of the buffer. The library
 * still owns the connection and the stream (see replication/change-source.ts).
 *
 * Invariants:
 * - Column values are PostgreSQL's text output, untouched; `null` for NULL; `undefined` for an
 *   unchanged TOASTed value ('u'), except in an UPDATE whose old row is in the message, where the
 *   old row's value is used (as the library did).
 * - A message that does not parse throws {@link PgoutputDecodeError}; nothing is guessed.
 * - Relation messages are remembered by OID; a row message for an unknown relation throws.
 * - Every string and tuple returned is a copy: nothing refers to the input buffer, which the
 *   connection reuses.
 */

/** A WAL position as a 64-bit integer (replication/lsn.ts prints it). */
type Lsn = bigint;

export interface RelationColumn {
  name: string;
  typeOid: number;
  typeMod: number;
  /** pgoutput column flags; bit 1: part of the replica identity. */
  flags: number;
}

export type ReplicaIdentity = 'default' | 'nothing' | 'full' | 'index';

export interface RelationMessage {
  tag: 'relation';
  relationOid: number;
  schema: string;
  name: string;
  replicaIdentity: ReplicaIdentity;
  columns: RelationColumn[];
}

/** One entry per column, in relation order. `undefined` = unchanged TOASTed value. */
export type TupleData = Array<string | null | undefined>;

export interface BeginMessage {
  tag: 'begin';
  /** The transaction's final (commit) LSN. */
  finalLsn: Lsn;
  /** Microseconds since the Unix epoch. */
  commitTime: bigint;
  xid: number;
}

export interface CommitMessage {
  tag: 'commit';
  commitLsn: Lsn;
  /** The end of the transaction's commit record: the position to confirm. */
  endLsn: Lsn;
  commitTime: bigint;
}

export interface InsertMessage {
  tag: 'insert';
  relation: RelationMessage;
  newTuple: TupleData;
}

export interface UpdateMessage {
  tag: 'update';
  relation: RelationMessage;
  /** The whole old row (REPLICA IDENTITY FULL), if sent. */
  oldTuple: TupleData | null;
  /** The old replica identity columns (others null), if the key changed. */
  keyTuple: TupleData | null;
  newTuple: TupleData;
}

export interface DeleteMessage {
  tag: 'delete';
  relation: RelationMessage;
  oldTuple: TupleData | null;
  keyTuple: TupleData | null;
}

export interface TruncateMessage {
  tag: 'truncate';
  relations: RelationMessage[];
  cascade: boolean;
  restartIdentity: boolean;
}

/** Type, Origin and logical decoding messages: decoded, carry nothing to publish. */
export interface OtherMessage {
  tag: 'type' | 'origin' | 'message';
}

export type WalMessage =
  | BeginMessage
  | CommitMessage
  | RelationMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | OtherMessage;

export type RowMessage = InsertMessage | UpdateMessage | DeleteMessage;

export class PgoutputDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgoutputDecodeError';
  }
}

/** (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY */
const PG_EPOCH_MICROS = 946_684_800_000_000n;

const IDENTITIES: Record<number, ReplicaIdentity> = {
  0x64: 'default',
  0x6e: 'nothing',
  0x66: 'full',
  0x69: 'index',
};

/** `Buffer#utf8Slice`: what `toString('utf8', start, end)` calls, without its argument checks. */
interface Utf8Slicer {
  utf8Slice(start: number, end: number): string;
}

export class PgoutputDecoder {
  private readonly relations = new Map<number, RelationMessage>();
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  /** Decodes one pgoutput message (an XLogData payload). */
  decode(buf: Buffer): WalMessage {
    this.buf = buf;
    this.pos = 1;
    switch (buf[0]) {
      case 0x42 /* B */:
        return this.begin();
      case 0x43 /* C */:
        return this.commit();
      case 0x52 /* R */:
        return this.relation();
      case 0x49 /* I */:
        return this.insert();
      case 0x55 /* U */:
        return this.update();
      case 0x44 /* D */:
        return this.delete();
      case 0x54 /* T */:
        return this.truncate();
      case 0x59 /* Y */:
        return { tag: 'type' };
      case 0x4f /* O */:
        return { tag: 'origin' };
      case 0x4d /* M */:
        return { tag: 'message' };
      default:
        throw new PgoutputDecodeError(`unknown pgoutput message tag ${String(buf[0])}`);
    }
  }

  private begin(): BeginMessage {
    this.need(20);
    const finalLsn = this.buf.readBigUInt64BE(this.pos);
    const commitTime = this.buf.readBigInt64BE(this.pos + 8) + PG_EPOCH_MICROS;
    const xid = this.buf.readUInt32BE(this.pos + 16);
    this.pos += 20;
    return { tag: 'begin', finalLsn, commitTime, xid };
  }

  private commit(): CommitMessage {
    this.need(25);
    const commitLsn = this.buf.readBigUInt64BE(this.pos + 1);
    const endLsn = this.buf.readBigUInt64BE(this.pos + 9);
    const commitTime = this.buf.readBigInt64BE(this.pos + 17) + PG_EPOCH_MICROS;
    this.pos += 25;
    return { tag: 'commit', commitLsn, endLsn, commitTime };
  }

  private relation(): RelationMessage {
    const relationOid = this.int32() >>> 0;
    const schema = this.cString();
    const name = this.cString();
    const identity = IDENTITIES[this.byte()];
    if (identity === undefined)
      throw new PgoutputDecodeError(`unknown replica identity in ${schema}.${name}`);
    const count = this.int16();
    const columns: RelationColumn[] = [];
    for (let i = 0; i < count; i++) {
      const flags = this.byte();
      const columnName = this.cString();
      const typeOid = this.int32() >>> 0;
      const typeMod = this.int32();
      columns.push({ name: columnName, typeOid, typeMod, flags });
    }
    const msg: RelationMessage = {
      tag: 'relation',
      relationOid,
      schema,
      name,
      replicaIdentity: identity,
      columns,
    };
    this.relations.set(relationOid, msg);
    return msg;
  }

  private insert(): InsertMessage {
    const relation = this.relationFor(this.int32() >>> 0);
    this.expect(0x4e /* N */);
    return { tag: 'insert', relation, newTuple: this.tuple(relation, null) };
  }

  private update(): UpdateMessage {
    const relation = this.relationFor(this.int32() >>> 0);
    let oldTuple: TupleData | null = null;
    let keyTuple: TupleData | null = null;
    let kind = this.byte();
    if (kind === 0x4b /* K */) {
      keyTuple = this.tuple(relation, null);
      kind = this.byte();
    } else if (kind === 0x4f /* O */) {
      oldTuple = this.tuple(relation, null);
      kind = this.byte();
    }
    if (kind !== 0x4e /* N */) throw new PgoutputDecodeError('UPDATE without a new tuple');
    return { tag: 'update', relation, oldTuple, keyTuple, newTuple: this.tuple(relation, oldTuple) };
  }

  private delete(): DeleteMessage {
    const relation = this.relationFor(this.int32() >>> 0);
    const kind = this.byte();
    if (kind !== 0x4b && kind !== 0x4f) throw new PgoutputDecodeError('DELETE without an old tuple');
    const tuple = this.tuple(relation, null);
    return {
      tag: 'delete',
      relation,
      oldTuple: kind === 0x4f ? tuple : null,
      keyTuple: kind === 0x4b ? tuple : null,
    };
  }

  private truncate(): TruncateMessage {
    const count = this.int32();
    const flags = this.byte();
    const relations: RelationMessage[] = [];
    for (let i = 0; i < count; i++) relations.push(this.relationFor(this.int32() >>> 0));
    return { tag: 'truncate', relations, cascade: (flags & 1) !== 0, restartIdentity: (flags & 2) !== 0 };
  }

  private tuple(relation: RelationMessage, unchangedFrom: TupleData | null): TupleData {
    const count = this.int16();
    if (count > relation.columns.length) {
      throw new PgoutputDecodeError(`tuple of ${relation.schema}.${relation.name} has ${count} columns`);
    }
    const buf = this.buf;
    const out: TupleData = new Array<string | null | undefined>(count);
    for (let i = 0; i < count; i++) {
      this.need(1);
      const kind = buf[this.pos++];
      if (kind === 0x74 /* t */) {
        const length = this.int32();
        this.need(length);
        out[i] = (buf as unknown as Utf8Slicer).utf8Slice(this.pos, (this.pos += length));
      } else if (kind === 0x6e /* n */) {
        out[i] = null;
      } else if (kind === 0x75 /* u */) {
        out[i] = unchangedFrom === null ? undefined : unchangedFrom[i];
      } else {
        // 'b' (binary) is only sent when the binary option is requested, which walcast never does.
        throw new PgoutputDecodeError(`unexpected column kind ${String(kind)}`);
      }
    }
    return out;
  }

  private relationFor(oid: number): RelationMessage {
    const relation = this.relations.get(oid);
    if (relation === undefined)
      throw new PgoutputDecodeError(`row for relation ${oid} before its Relation message`);
    return relation;
  }

  private need(bytes: number): void {
    if (this.pos + bytes > this.buf.length) throw new PgoutputDecodeError('pgoutput message ends early');
  }

  private byte(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  private expect(byte: number): void {
    if (this.byte() !== byte) throw new PgoutputDecodeError(`expected ${String.fromCharCode(byte)}`);
  }

  private int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  private int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  private cString(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new PgoutputDecodeError('unterminated string');
    const s = (this.buf as unknown as Utf8Slicer).utf8Slice(this.pos, end);
    this.pos = end + 1;
    return s;
  }
}
