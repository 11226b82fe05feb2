/**
 * The checker: compares what one observer received with what PostgreSQL committed. Pure; no I/O.
 *
 * Rows are identified by their integer primary key, which the workload never reuses. The database
 * is the source of truth: `committed` is the set of ids a query finds after the scenario, whatever
 * the writer believed (a commit whose acknowledgement was lost in a PostgreSQL restart still counts).
 *
 * Definitions (per observer):
 * - committed: rows the observer is held to (committed ids minus the exempt ones, see below);
 * - received: of those, rows delivered at least once;
 * - lost: committed − received;
 * - duplicated: deliveries beyond the first, summed over rows (a row delivered 3 times counts 2);
 * - reordered: first deliveries of a row whose id is lower than an id first delivered before it
 *   (the workload commits ids in increasing order from one connection, so this is commit order);
 * - phantom: ids delivered that PostgreSQL does not have (rolled back or invented); always a bug.
 * A row an observer never got as a change but read from PostgreSQL itself (a client refetching
 * after a HistoryGap, as an application does) counts as received, and is also counted apart as
 * `refetched`; a refetch is never a delivery, so it makes no duplicate and no reordering.
 * Exempt rows (e.g. those committed while a Redis subscriber was disconnected) are counted apart,
 * with how many of them arrived anyway; they never count as lost.
 */

/** Delivery counts per row id: a growable array indexed by id, so a million rows cost 2 MB. */
export class IdCounts {
  private counts = new Uint16Array(1024);
  /** Ids read by a refetch (1) or not (0), indexed by id; grown on demand. */
  private refetchedIds = new Uint8Array(0);
  private maxFirst = -1;
  /** Distinct ids delivered at least once. */
  distinct = 0;
  /** Deliveries in all, duplicates included. */
  deliveries = 0;
  /** First deliveries that came after a higher id's first delivery. */
  reordered = 0;

  /** Ids read by a refetch and not delivered (so far). */
  refetchedOnly = 0;

  /** Distinct ids known, delivered or refetched. */
  get received(): number {
    return this.distinct + this.refetchedOnly;
  }

  /** Records one delivery of `id` (a non-negative integer). */
  add(id: number): void {
    checkId(id);
    if (id >= this.counts.length) this.counts = grown(this.counts, id, Uint16Array);
    const previous = this.counts[id]!;
    if (previous < 0xffff) this.counts[id] = previous + 1;
    this.deliveries++;
    if (previous === 0) {
      this.distinct++;
      if (this.isRefetched(id)) this.refetchedOnly--;
      if (id < this.maxFirst) this.reordered++;
      else this.maxFirst = id;
    }
  }

  /**
   * Records that `id` was read from PostgreSQL by a refetch: it counts as received from then on
   * (also if it is delivered later: that delivery is then its first, not a duplicate).
   */
  addRefetched(id: number): void {
    checkId(id);
    if (id >= this.refetchedIds.length) this.refetchedIds = grown(this.refetchedIds, id, Uint8Array);
    if (this.refetchedIds[id] === 1) return;
    this.refetchedIds[id] = 1;
    if (this.count(id) === 0) this.refetchedOnly++;
  }

  /** Whether `id` was read by a refetch. */
  isRefetched(id: number): boolean {
    return this.refetchedIds[id] === 1;
  }

  /** How many times `id` was delivered (saturates at 65535). */
  count(id: number): number {
    return this.counts[id] ?? 0;
  }

  /** Every id delivered at least once, ascending. */
  *ids(): Generator<number> {
    for (let id = 0; id < this.counts.length; id++) if (this.counts[id]! > 0) yield id;
  }
}

function checkId(id: number): void {
  if (!Number.isInteger(id) || id < 0) throw new RangeError(`row id ${id} is not a non-negative integer`);
}

/** A copy of `array` (a typed array) doubled in length until `id` fits. */
function grown<T extends Uint8Array | Uint16Array>(array: T, id: number, Type: new (size: number) => T): T {
  let size = Math.max(array.length, 1024);
  while (size <= id) size *= 2;
  const copy = new Type(size);
  copy.set(array);
  return copy;
}

/** The verdict for one observer. */
export interface Tally {
  committed: number;
  received: number;
  lost: number;
  duplicated: number;
  reordered: number;
  phantom: number;
  /** Of the received rows, how many were never delivered but read by a refetch. */
  refetched: number;
  /** Committed rows the observer was not held to. */
  exempt: number;
  /** Of the exempt rows, how many arrived anyway. */
  exemptReceived: number;
  /** The first lost ids as ranges (`[from, to]`, at most 10), for the report. */
  lostRanges: Array<[number, number]>;
}

/**
 * Tallies `counts` against the committed ids. `isExempt(id)` marks committed rows the observer is
 * not held to (default: none).
 */
export function tally(
  committed: readonly number[],
  counts: IdCounts,
  isExempt: (id: number) => boolean = () => false,
): Tally {
  const result: Tally = {
    committed: 0,
    received: 0,
    lost: 0,
    duplicated: 0,
    reordered: counts.reordered,
    phantom: 0,
    refetched: 0,
    exempt: 0,
    exemptReceived: 0,
    lostRanges: [],
  };
  const known = new Set<number>();
  for (const id of committed) {
    known.add(id);
    const n = counts.count(id);
    if (n > 1) result.duplicated += n - 1;
    const isReceived = n > 0 || counts.isRefetched(id);
    if (isExempt(id)) {
      result.exempt++;
      if (isReceived) result.exemptReceived++;
      continue;
    }
    result.committed++;
    if (isReceived) result.received++;
    else addToRanges(result.lostRanges, id);
    if (n === 0 && isReceived) result.refetched++;
  }
  result.lost = result.committed - result.received;
  for (const id of counts.ids()) if (!known.has(id)) result.phantom++;
  return result;
}

const MAX_RANGES = 10;

/** Extends the last range when `id` follows it, else starts a new one (up to {@link MAX_RANGES}). */
function addToRanges(ranges: Array<[number, number]>, id: number): void {
  const last = ranges[ranges.length - 1];
  if (last !== undefined && last[1] + 1 === id) last[1] = id;
  else if (ranges.length < MAX_RANGES) ranges.push([id, id]);
}

/** Adds up the tallies of a group of observers (e.g. the clients of one gateway). */
export function sumTallies(tallies: readonly Tally[]): Tally {
  const sum: Tally = {
    committed: 0,
    received: 0,
    lost: 0,
    duplicated: 0,
    reordered: 0,
    phantom: 0,
    refetched: 0,
    exempt: 0,
    exemptReceived: 0,
    lostRanges: [],
  };
  for (const t of tallies) {
    sum.committed += t.committed;
    sum.received += t.received;
    sum.lost += t.lost;
    sum.duplicated += t.duplicated;
    sum.reordered += t.reordered;
    sum.phantom += t.phantom;
    sum.refetched += t.refetched;
    sum.exempt += t.exempt;
    sum.exemptReceived += t.exemptReceived;
    for (const [from, to] of t.lostRanges) {
      if (sum.lostRanges.length < MAX_RANGES) sum.lostRanges.push([from, to]);
    }
  }
  return sum;
}
