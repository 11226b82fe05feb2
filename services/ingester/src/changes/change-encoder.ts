/**
 * Turns pgoutput row messages into change events (packages/protocol `ChangeEvent`), serialised
 * once, here, as JSON text. Values are spliced as JSON fragments from the value decoder, so int8
 * and numeric keep PostgreSQL's digits.
 *
 * `old_record` (docs/protocol.md E3): the replica identity columns under DEFAULT/INDEX identity,
 * taken from the key tuple when the key changed and otherwise from the new row (as wal2json does);
 * the whole old row under FULL; `{}` under NOTHING. An unchanged TOAST value is taken from the old
 * row when the message carries it (the library does this) and otherwise left out of `record`.
 *
 * A value whose conversion throws is sent as a JSON string of its text and the change carries an
 * `errors` entry naming the column: nothing is dropped for bad data.
 */
import { topicForTable, type ChangeType } from '@walcast/protocol';
import type {
  BeginMessage,
  RelationMessage,
  ReplicaIdentity,
  RowMessage,
  TruncateMessage,
  TupleData,
} from './pgoutput-decoder';
import { decodeValue, typeName } from './value-decoder';
import type { TypeRegistry } from './type-registry';
import { PositionClock, type Stamp } from './position-clock';

/** One change, ready to publish. */
export interface EncodedChange {
  topic: string;
  type: ChangeType;
  /** The change event's JSON text. */
  json: string;
  /** The table's primary key columns (empty if it has none). */
  pk: readonly string[];
  /** Its position (also in `json`) and history entry id. */
  stamp: Stamp;
}

interface ColumnInfo {
  name: string;
  /** Position in the relation (and in every tuple). */
  index: number;
  /** `JSON.stringify(name)` + `:`, precomputed. */
  keyPrefix: string;
  typeOid: number;
  isKey: boolean;
}

interface RelationInfo {
  topic: string;
  /** `"schema":…,"table":…` */
  identityJson: string;
  /** `"columns":[…]` */
  columnsJson: string;
  columns: ColumnInfo[];
  keyColumns: ColumnInfo[];
  identity: ReplicaIdentity;
  pk: readonly string[];
}

let cachedSecond = NaN;
let cachedSecondIso = '';

/** Microseconds since the Unix epoch → `2026-11-28T04:30:08.123456Z`. */
export function commitTimestamp(micros: bigint): string {
  // Exact in a double up to 2^53 µs (year 2255); the bigint path covers the rest.
  const asNumber = Number(micros);
  let second: number;
  let fraction: number;
  if (Number.isSafeInteger(asNumber)) {
    second = Math.floor(asNumber / 1_000_000);
    fraction = asNumber - second * 1_000_000;
  } else {
    const s = micros / 1_000_000n;
    second = Number(s);
    fraction = Number(micros - s * 1_000_000n);
    if (fraction < 0) {
      second -= 1;
      fraction += 1_000_000;
    }
  }
  // Consecutive transactions mostly commit within the same second: format it once.
  if (second !== cachedSecond) {
    cachedSecondIso = new Date(second * 1000).toISOString().slice(0, 19);
    cachedSecond = second;
  }
  return `${cachedSecondIso}.${String(fraction).padStart(6, '0')}Z`;
}

export class ChangeEncoder {
  /** Keyed by the library's relation object: a new Relation message (e.g. after ALTER TABLE) is a new key. */
  private readonly relations = new WeakMap<RelationMessage, RelationInfo>();
  /** Primary key columns by relation OID, as last read from the catalog. */
  private readonly primaryKeys = new Map<number, readonly string[]>();
  private timestampJson = '""';
  /** The conversion errors of the change being encoded (one array, reused). */
  private readonly errors: string[] = [];

  constructor(
    private readonly registry: TypeRegistry,
    /** Numbers every message of a transaction; shared with what else the transaction publishes. */
    readonly positions = new PositionClock(),
  ) {}

  /** The type OIDs of a relation's columns that the registry cannot convert yet. */
  unknownTypeOids(relation: RelationMessage): number[] {
    return this.registry.unknownOids(relation.columns.map((c) => c.typeOid));
  }

  /** Records a relation's primary key (read from the catalog when its Relation message arrives). */
  setPrimaryKey(relationOid: number, columns: readonly string[]): void {
    this.primaryKeys.set(relationOid, columns);
  }

  /** Starts a transaction: every following change carries its commit time and a position in it. */
  begin(msg: BeginMessage): void {
    this.timestampJson = `"${commitTimestamp(msg.commitTime)}"`;
    this.positions.begin(msg.finalLsn);
  }

  encode(msg: RowMessage): EncodedChange {
    const rel = this.relationInfo(msg.relation);
    const errors = this.errors;
    errors.length = 0;
    let body: string;
    let type: ChangeType;
    if (msg.tag === 'insert') {
      type = 'INSERT';
      body = `"record":${this.row(rel.columns, msg.newTuple, errors)}`;
    } else if (msg.tag === 'update') {
      type = 'UPDATE';
      const oldRow = this.oldRecord(rel, msg.oldTuple, msg.keyTuple, msg.newTuple, errors);
      body = `"record":${this.row(rel.columns, msg.newTuple, errors)},"old_record":${oldRow}`;
    } else {
      type = 'DELETE';
      body = `"old_record":${this.oldRecord(rel, msg.oldTuple, msg.keyTuple, null, errors)}`;
    }
    const errorsJson = errors.length === 0 ? 'null' : JSON.stringify(errors);
    const stamp = this.positions.next();
    return {
      topic: rel.topic,
      type,
      pk: rel.pk,
      stamp,
      json: `{"type":"${type}",${rel.identityJson},"commit_timestamp":${this.timestampJson},${rel.columnsJson},${body},"errors":${errorsJson},"position":"${stamp.position}"}`,
    };
  }

  /** One TRUNCATE change per truncated relation. */
  encodeTruncate(msg: TruncateMessage): EncodedChange[] {
    // `undefined` never comes from the decoder (it throws for an unknown relation); kept defensive.
    return msg.relations
      .filter((r): r is RelationMessage => r !== undefined)
      .map((relation) => {
        const rel = this.relationInfo(relation);
        const stamp = this.positions.next();
        return {
          topic: rel.topic,
          type: 'TRUNCATE' as const,
          pk: rel.pk,
          stamp,
          json: `{"type":"TRUNCATE",${rel.identityJson},"commit_timestamp":${this.timestampJson},"errors":null,"position":"${stamp.position}"}`,
        };
      });
  }

  private oldRecord(
    rel: RelationInfo,
    old: TupleData | null,
    key: TupleData | null,
    newRow: TupleData | null,
    errors: string[],
  ): string {
    if (old) return this.row(rel.identity === 'full' ? rel.columns : rel.keyColumns, old, errors);
    if (rel.identity === 'nothing') return '{}';
    const source = key ?? newRow;
    return source ? this.row(rel.keyColumns, source, errors) : '{}';
  }

  private row(columns: readonly ColumnInfo[], tuple: TupleData, errors: string[]): string {
    let out = '{';
    let first = true;
    for (const col of columns) {
      const text = tuple[col.index];
      if (text === undefined) continue; // unchanged TOAST and no old value: left out
      out += first ? col.keyPrefix : `,${col.keyPrefix}`;
      first = false;
      if (text === null) {
        out += 'null';
        continue;
      }
      try {
        out += decodeValue(this.registry, col.typeOid, text);
      } catch (err) {
        out += JSON.stringify(text);
        errors.push(
          `Error decoding column ${col.name} (${typeName(this.registry, col.typeOid)}): ${(err as Error).message}`,
        );
      }
    }
    return `${out}}`;
  }

  private relationInfo(relation: RelationMessage): RelationInfo {
    let info = this.relations.get(relation);
    if (info) return info;
    const columns: ColumnInfo[] = relation.columns.map((c, index) => ({
      name: c.name,
      index,
      keyPrefix: `${JSON.stringify(c.name)}:`,
      typeOid: c.typeOid,
      isKey: (c.flags & 1) === 1,
    }));
    const described = relation.columns.map((c) => ({
      name: c.name,
      type: typeName(this.registry, c.typeOid),
    }));
    info = {
      topic: topicForTable(relation.schema, relation.name),
      identityJson: `"schema":${JSON.stringify(relation.schema)},"table":${JSON.stringify(relation.name)}`,
      columnsJson: `"columns":${JSON.stringify(described)}`,
      columns,
      keyColumns: columns.filter((c) => c.isKey),
      identity: relation.replicaIdentity,
      pk: this.primaryKeys.get(relation.relationOid) ?? [],
    };
    this.relations.set(relation, info);
    return info;
  }
}
