/**
 * How changes are stored in a table's history stream: packed. Each batch the ingester writes puts a
 * table's consecutive changes into one stream entry (a pack) instead of one entry per change, so
 * Redis runs one XADD per pack rather than per change (the history's cost in Redis is mostly the
 * per-entry work of XADD, not the bytes).
 *
 * A pack's entry id is the stream id of its last change; its fields are, per change in order, the
 * change's stream id and its message. An entry written before packing (one field `m`, the entry id
 * being the change's stream id) reads as a pack of one. Reading strictly after a position starts at
 * the first entry whose id is above it (XRANGE with an exclusive start): that is the pack holding
 * the next change, possibly with earlier ones, which the reader skips.
 *
 * Trimming counts changes, not entries (HISTORY_MAX_LEN is "most changes kept per table"): the
 * ingester keeps, per table, a few checkpoints (a pack's id and how many changes came before it),
 * and passes with each pack the id of the newest checkpoint that still leaves at least `maxLen`
 * changes at or after it, for XADD's `MINID ~`. A pack holds at most a {@link packLimit} of changes
 * (an eighth of `maxLen`) and checkpoints are at most that far apart, so a stream keeps at least
 * `maxLen` of the changes this ingester wrote and at most about 1.25 × `maxLen` (plus whatever Redis
 * keeps of a stream node, as before). After an ingester restart the older entries go once the new
 * one has written `maxLen` changes to the table.
 */
import { comparePositions, positionOfStreamId, type Position } from '@walcast/protocol';

/** Most changes in one pack: an eighth of the maximum length, so that trimming stays close to it. */
export function packLimit(maxLen: number): number {
  return Math.max(1, Math.ceil(maxLen / 8));
}

interface Checkpoint {
  /** The id of a pack, and how many changes of its table were written before it. */
  id: string;
  before: number;
}

/** Per table, what the ingester wrote since it started: where to trim its history (`MINID ~`). */
export class HistoryCutoffs {
  private readonly tables = new Map<string, { total: number; checkpoints: Checkpoint[] }>();
  private readonly granule: number;

  constructor(private readonly maxLen: number) {
    this.granule = packLimit(maxLen);
  }

  /**
   * A pack of `count` changes with entry id `id` is written to `topic`'s history: returns the
   * stream id below which its entries may go, or '' while fewer than `maxLen` changes are known.
   */
  written(topic: string, id: string, count: number): string {
    let table = this.tables.get(topic);
    if (!table) this.tables.set(topic, (table = { total: 0, checkpoints: [] }));
    const before = table.total;
    table.total += count;
    const { checkpoints } = table;
    const last = checkpoints[checkpoints.length - 1];
    if (!last || Math.floor(before / this.granule) > Math.floor(last.before / this.granule)) {
      checkpoints.push({ id, before });
    }
    let cut = -1;
    while (cut + 1 < checkpoints.length && table.total - checkpoints[cut + 1]!.before >= this.maxLen) cut++;
    if (cut < 0) return '';
    // The chosen checkpoint stays first: later cutoffs are never below it.
    if (cut > 0) checkpoints.splice(0, cut);
    return checkpoints[0]!.id;
  }
}

/**
 * Appends to `out` the changes of one stream entry (`fields` as XRANGE returns them) that come after
 * `after`, at most until `out` holds `limit`; returns the position of the last one
 * appended, or `after`. Changes at or before `after` are skipped: the start of the pack holding the
 * next change, or a change written twice (an ingester that restarted packed some changes again with
 * newer ones).
 */
export function unpackEntry(
  id: string,
  fields: string[],
  after: Position,
  out: Array<{ position: Position; message: string }>,
  limit: number,
): Position {
  let last = after;
  if (fields.length === 2 && fields[0] === 'm') {
    const position = positionOfStreamId(id);
    if (position && comparePositions(position, last) > 0 && out.length < limit) {
      out.push({ position, message: fields[1]! });
      last = position;
    }
    return last;
  }
  for (let i = 0; i + 1 < fields.length && out.length < limit; i += 2) {
    const position = positionOfStreamId(fields[i]!);
    if (!position || comparePositions(position, last) <= 0) continue;
    out.push({ position, message: fields[i + 1]! });
    last = position;
  }
  return last;
}
