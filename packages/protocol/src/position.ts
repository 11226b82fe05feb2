/**
 * Positions: where a change stands in the stream of committed changes. Every change the ingester
 * publishes carries one (`position` in the change event, `pos` in the bus header), clients read it
 * and may hand it back as `since` to resume, and the history in Redis is keyed by it. This module
 * is the only place that builds, parses, compares or converts them.
 *
 * A position is the transaction's commit LSN and the change's index in its transaction (0-based,
 * counting every message the transaction published), as fixed-width upper-case hex:
 * `00000016B374D848-00000003`. Commit LSNs grow in commit order, the order in which logical
 * replication streams transactions, so positions are totally ordered across all tables, and string
 * order is position order (up to 2^32 changes in one transaction; past that the index widens and
 * only {@link comparePositions} orders them). The same change always gets the same position, also
 * when a restarted ingester publishes it again, which is how duplicates are recognised.
 *
 * In Redis the history stream of a table uses the same pair as entry id, `<lsn>-<index>` in decimal.
 */

export interface Position {
  lsn: bigint;
  index: number;
}

const POSITION = /^([0-9A-F]{16})-([0-9A-F]{8,13})$/;

/** The text of a position. */
export function formatPosition(lsn: bigint, index: number): string {
  return positionOf(positionPrefix(lsn), index);
}

/**
 * The part of a position's text that all changes of one transaction share (its commit LSN and the
 * dash), for {@link positionOf}: the ingester formats the LSN once per transaction, not per change.
 */
export function positionPrefix(lsn: bigint): string {
  return `${lsn.toString(16).toUpperCase().padStart(16, '0')}-`;
}

/** The text of the position at `index` in the transaction of `prefix` ({@link positionPrefix}). */
export function positionOf(prefix: string, index: number): string {
  return `${prefix}${index.toString(16).toUpperCase().padStart(8, '0')}`;
}

/** Parses a position's text (case-insensitive); `null` if it is not one. */
export function parsePosition(text: unknown): Position | null {
  if (typeof text !== 'string' || text.length > 30) return null;
  const m = POSITION.exec(text.toUpperCase());
  if (!m) return null;
  return { lsn: BigInt(`0x${m[1]}`), index: Number.parseInt(m[2]!, 16) };
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function comparePositions(a: Position, b: Position): number {
  if (a.lsn !== b.lsn) return a.lsn < b.lsn ? -1 : 1;
  return a.index - b.index;
}

/** The Redis stream entry id of a position. */
export function streamIdOf(p: Position): string {
  return `${p.lsn}-${p.index}`;
}

/** The position of a Redis stream entry id; `null` for ids walcast does not write. */
export function positionOfStreamId(id: string): Position | null {
  const dash = id.indexOf('-');
  if (dash <= 0) return null;
  try {
    const lsn = BigInt(id.slice(0, dash));
    const index = Number(id.slice(dash + 1));
    if (lsn < 0n || lsn >= 1n << 64n || !Number.isSafeInteger(index) || index < 0) return null;
    return { lsn, index };
  } catch {
    return null;
  }
}

/** Compares two position texts; both must parse (the caller checked them). */
export function comparePositionTexts(a: string, b: string): number {
  if (a.length === b.length) return a < b ? -1 : a > b ? 1 : 0;
  return comparePositions(parsePosition(a)!, parsePosition(b)!);
}
