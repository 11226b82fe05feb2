import { RESUBSCRIBE_BATCH, RESUBSCRIBE_BATCH_BYTES, resubscribeBatches } from './resubscribe-batches';

describe('resubscribeBatches', () => {
  it('keeps every name once, in order', () => {
    const names = Array.from({ length: 1234 }, (_, i) => `topic-${i}`);
    const batches = resubscribeBatches(names);
    expect(batches.flat()).toEqual(names);
    expect(batches.map((b) => b.length)).toEqual([RESUBSCRIBE_BATCH, RESUBSCRIBE_BATCH, 234]);
  });

  it('bounds the bytes of a batch, but never splits or drops a name larger than the bound', () => {
    const name = 'n'.repeat(RESUBSCRIBE_BATCH_BYTES / 4);
    const huge = 'h'.repeat(RESUBSCRIBE_BATCH_BYTES * 2);
    const batches = resubscribeBatches([name, name, name, name, name, huge, name]);
    expect(batches.map((b) => b.length)).toEqual([4, 1, 1, 1]);
    expect(batches.flat()).toHaveLength(7);
  });

  it('makes no batch of nothing', () => {
    expect(resubscribeBatches([])).toEqual([]);
  });
});
