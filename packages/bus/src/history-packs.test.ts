// Packing a table's changes into stream entries: where the ingester trims, and how a reader unpacks.
import { formatPosition, parsePosition } from '@walcast/protocol';
import type { HistoryRecord } from './history';
import { HistoryCutoffs, packLimit, unpackEntry } from './history-packs';

const pos = (lsn: number, index = 0) => parsePosition(formatPosition(BigInt(lsn), index))!;

/** A stream in memory: packs of `limit` changes, trimmed below each cutoff as `MINID` does. */
function simulate(maxLen: number, batches: number[]): { kept: number; entries: number } {
  const cutoffs = new HistoryCutoffs(maxLen);
  const limit = packLimit(maxLen);
  let stream: Array<{ id: number; count: number }> = [];
  let next = 1;
  for (const size of batches) {
    for (let left = size; left > 0; ) {
      const count = Math.min(limit, left);
      left -= count;
      next += count;
      const id = next - 1;
      stream.push({ id, count });
      const cut = cutoffs.written('t', `${id}-0`, count);
      if (cut !== '') stream = stream.filter((e) => e.id >= Number(cut.split('-')[0]));
    }
  }
  return { kept: stream.reduce((n, e) => n + e.count, 0), entries: stream.length };
}

describe('HistoryCutoffs', () => {
  it('keeps at least maxLen changes and at most about 1.25 × maxLen, whatever the batch sizes', () => {
    for (const maxLen of [1, 2, 7, 10, 100, 10_000]) {
      for (const batch of [1, 3, 50, 1000]) {
        const { kept } = simulate(
          maxLen,
          Array.from({ length: 60 }, () => batch),
        );
        const written = 60 * batch;
        expect(kept).toBeGreaterThanOrEqual(Math.min(maxLen, written));
        expect(kept).toBeLessThanOrEqual(maxLen + 2 * packLimit(maxLen));
      }
    }
  });

  it('does not trim a table until maxLen of its changes were written, and counts tables apart', () => {
    const cutoffs = new HistoryCutoffs(10);
    expect(cutoffs.written('a', '5-0', 2)).toBe('');
    expect(cutoffs.written('b', '6-0', 2)).toBe('');
    for (let i = 0; i < 3; i++) expect(cutoffs.written('a', `${10 + i}-0`, 2)).toBe('');
    expect(cutoffs.written('a', '20-0', 2)).toBe('5-0');
    expect(cutoffs.written('b', '21-0', 2)).toBe('');
  });
});

describe('unpackEntry', () => {
  it('reads the changes of a pack strictly after a position, up to a limit', () => {
    const out: HistoryRecord[] = [];
    const fields = ['1-0', 'a', '1-1', 'b', '2-0', 'c'];
    const last = unpackEntry('2-0', fields, pos(1, 0), out, 10);
    expect(out.map((r) => r.message)).toEqual(['b', 'c']);
    expect(last).toEqual(pos(2));
    const limited: HistoryRecord[] = [];
    expect(unpackEntry('2-0', fields, pos(0), limited, 1)).toEqual(pos(1, 0));
    expect(limited.map((r) => r.message)).toEqual(['a']);
  });

  it('reads an entry written before packing, and skips changes not after the last one read', () => {
    const out: HistoryRecord[] = [];
    let last = unpackEntry('5-0', ['m', 'old'], pos(1), out, 10);
    last = unpackEntry('7-0', ['4-0', 'x', '5-0', 'y', '6-0', 'z', '7-0', 'w'], last, out, 10);
    expect(out.map((r) => r.message)).toEqual(['old', 'z', 'w']);
    expect(last).toEqual(pos(7));
  });
});
