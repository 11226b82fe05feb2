import { HistoryTrim } from './history-trim';

const silent = { warn() {} } as never;

describe('HistoryTrim', () => {
  it('trims below the newest transaction older than the TTL, once per new cutoff', async () => {
    let now = 100_000;
    const trimmed: string[] = [];
    const trim = new HistoryTrim({
      ttlMs: 10_000,
      intervalMs: 1000,
      trim: (id) => {
        trimmed.push(id);
        return Promise.resolve();
      },
      log: silent,
      now: () => now,
    });
    trim.record(80_000, 100n);
    trim.record(80_010, 150n); // within the sampling interval: not kept
    trim.record(85_000, 200n);
    trim.record(95_000, 300n);
    await trim.runOnce();
    expect(trimmed).toEqual(['200-0']);
    await trim.runOnce();
    expect(trimmed).toEqual(['200-0']);
    now = 105_000;
    await trim.runOnce();
    expect(trimmed).toEqual(['200-0', '300-0']);
  });

  it('trims nothing before a TTL has passed, and retries a failed trim', async () => {
    let fail = true;
    const trimmed: string[] = [];
    const trim = new HistoryTrim({
      ttlMs: 10_000,
      intervalMs: 1000,
      trim: (id) => {
        if (fail) return Promise.reject(new Error('redis down'));
        trimmed.push(id);
        return Promise.resolve();
      },
      log: silent,
      now: () => 100_000,
    });
    trim.record(95_000, 100n);
    expect(trim.cutoff()).toBeNull();
    trim.record(80_000, 50n); // older than the last sample: ignored
    trim.record(96_000, 200n);
    expect(trim.cutoff()).toBeNull();
    const old = new HistoryTrim({
      ttlMs: 10_000,
      intervalMs: 1000,
      trim: (id) => (fail ? Promise.reject(new Error('x')) : (trimmed.push(id), Promise.resolve())),
      log: silent,
      now: () => 100_000,
    });
    old.record(50_000, 100n);
    await old.runOnce();
    expect(trimmed).toEqual([]);
    fail = false;
    await old.runOnce();
    expect(trimmed).toEqual(['100-0']);
  });
});
