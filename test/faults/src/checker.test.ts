import { IdCounts, sumTallies, tally } from './checker';

function counts(...ids: number[]): IdCounts {
  const c = new IdCounts();
  for (const id of ids) c.add(id);
  return c;
}

describe('tally', () => {
  it('counts received, lost and duplicated rows against the committed ids', () => {
    const t = tally([1, 2, 3, 4, 5], counts(1, 2, 2, 2, 4, 5));
    expect(t).toMatchObject({ committed: 5, received: 4, lost: 1, duplicated: 2, phantom: 0, reordered: 0 });
    expect(t.lostRanges).toEqual([[3, 3]]);
  });

  it('reports lost ids as ranges', () => {
    const t = tally([1, 2, 3, 4, 5, 6, 7], counts(1, 4, 7));
    expect(t.lostRanges).toEqual([
      [2, 3],
      [5, 6],
    ]);
  });

  it('counts ids delivered but never committed as phantoms', () => {
    expect(tally([1, 2], counts(1, 2, 3)).phantom).toBe(1);
  });

  it('counts first deliveries below an earlier first delivery as reordered, duplicates not', () => {
    expect(counts(1, 3, 2, 4).reordered).toBe(1);
    expect(counts(1, 2, 3, 1, 2, 3, 4).reordered).toBe(0);
  });

  it('keeps exempt rows apart, with how many of them arrived anyway', () => {
    const t = tally([1, 2, 3, 4], counts(1, 2, 4), (id) => id === 2 || id === 3);
    expect(t).toMatchObject({ committed: 2, received: 2, lost: 0, exempt: 2, exemptReceived: 1 });
  });

  it('counts refetched rows as received, apart, and never as duplicated or reordered', () => {
    const c = counts(1, 5);
    for (const id of [2, 3, 4, 5]) c.addRefetched(id);
    expect(c.received).toBe(4 + 1);
    expect(c.refetchedOnly).toBe(3);
    c.add(3); // delivered after the refetch: its first delivery
    expect(c.refetchedOnly).toBe(2);
    expect(c.reordered).toBe(1); // 3 after 5, as a delivery; the refetch itself orders nothing
    const t = tally([1, 2, 3, 4, 5, 6], c);
    expect(t).toMatchObject({ committed: 6, received: 5, lost: 1, duplicated: 0, refetched: 2 });
    expect(t.lostRanges).toEqual([[6, 6]]);
    expect(sumTallies([t, t]).refetched).toBe(4);
  });

  it('grows past its initial size and saturates duplicate counts', () => {
    const c = counts(5000, 1_000_000);
    expect(c.count(1_000_000)).toBe(1);
    for (let i = 0; i < 70_000; i++) c.add(7);
    expect(c.count(7)).toBe(0xffff);
    expect(c.distinct).toBe(3);
  });

  it('rejects ids that are not non-negative integers', () => {
    expect(() => counts(-1)).toThrow(RangeError);
    expect(() => counts(1.5)).toThrow(RangeError);
  });

  it('sums a group', () => {
    const sum = sumTallies([tally([1, 2], counts(1)), tally([1, 2], counts(1, 2, 2))]);
    expect(sum).toMatchObject({ committed: 4, received: 3, lost: 1, duplicated: 1 });
  });
});
