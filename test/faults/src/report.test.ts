import { IdCounts, tally } from './checker';
import type { ScenarioResult } from './harness';
import { formatNotes, formatResults } from './report';

function result(overrides: Partial<ScenarioResult>): ScenarioResult {
  return {
    name: 's',
    results: [],
    checks: [],
    notes: [],
    error: null,
    seconds: 1,
    passed: true,
    ...overrides,
  };
}

function received(...ids: number[]): IdCounts {
  const counts = new IdCounts();
  for (const id of ids) counts.add(id);
  return counts;
}

function refetched(counts: IdCounts, ...ids: number[]): IdCounts {
  for (const id of ids) counts.addRefetched(id);
  return counts;
}

describe('formatResults', () => {
  it('prints one row per observer, the verdict per row, and the extra checks', () => {
    const table = formatResults([
      result({
        name: 'gateway-kill',
        results: [
          { observer: 'redis subscriber', tally: tally([1, 2, 3], received(1, 2, 3, 3)), refetches: null },
          {
            observer: '1 client of gateway 0',
            tally: tally([1, 2, 3], refetched(received(1), 2, 3)),
            refetches: 1,
          },
          { observer: '1 client of gateway 1', tally: tally([1, 2, 3], received(1, 2)), refetches: 0 },
        ],
        checks: [{ what: 'ingester peak RSS 100 MB < 300 MB', ok: true }],
      }),
    ]);
    const lines = table.split('\n');
    expect(lines[0]).toMatch(
      /^\| scenario +\| observer +\| committed \| received \| lost \| duplicated \| reordered \| refetches \| bar +\|$/,
    );
    expect(lines[2]).toMatch(
      /^\| gateway-kill \| redis subscriber .*\| +3 \| +3 \| +0 \| +1 \| +0 \| +\| ok +\|$/,
    );
    // Rows read by a refetch count as received; the refetches are shown.
    expect(lines[3]).toMatch(/\| +3 \| +3 \| +0 \| +0 \| +0 \| +1 \| ok +\|$/);
    expect(lines[4]).toMatch(/\| +3 \| +2 \| +1 \| +0 \| +0 \| +0 \| FAIL +\|$/);
    expect(lines[5]).toMatch(/ingester peak RSS 100 MB < 300 MB .*\| ok +\|$/);
  });

  it('prints a scenario that threw as one failed row', () => {
    expect(formatResults([result({ name: 'x', error: 'boom\nstack', passed: false })])).toContain(
      '| x        | error: boom |',
    );
  });
});

describe('formatNotes', () => {
  it('lists lost ids as ranges and the exempt rows', () => {
    const notes = formatNotes([
      result({
        name: 'redis-restart',
        results: [
          {
            observer: 'redis subscriber',
            tally: tally([1, 2, 3, 4, 5], received(1, 4), (id) => id === 4),
            refetches: null,
          },
        ],
      }),
    ]);
    expect(notes).toContain('1 rows committed while the Redis subscriber was not subscribed');
    expect(notes).toContain('redis subscriber: lost ids 2-3, 5');
  });
});
