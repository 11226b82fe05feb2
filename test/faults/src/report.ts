/** The results table and the notes under it. */
import type { ScenarioResult } from './harness';

const n = (value: number): string => value.toLocaleString('en');

/** The results as a Markdown table (docs/fault-injection.md shows it as printed). */
export function formatResults(results: readonly ScenarioResult[]): string {
  const header = [
    'scenario',
    'observer',
    'committed',
    'received',
    'lost',
    'duplicated',
    'reordered',
    'refetches',
    'bar',
  ];
  const blank = (): string[] => ['', '', '', '', '', ''];
  const rows: string[][] = [];
  for (const result of results) {
    if (result.error !== null) {
      rows.push([result.name, `error: ${result.error.split('\n')[0]!}`, ...blank(), 'FAIL']);
      continue;
    }
    result.results.forEach((r, i) => {
      const t = r.tally;
      const bar =
        t.lost === 0 && t.phantom === 0 ? 'ok' : `FAIL${t.phantom > 0 ? ` (${t.phantom} phantom)` : ''}`;
      rows.push([
        i === 0 ? result.name : '',
        r.observer,
        n(t.committed),
        n(t.received),
        n(t.lost),
        n(t.duplicated),
        n(t.reordered),
        r.refetches === null ? '' : n(r.refetches),
        bar,
      ]);
    });
    for (const check of result.checks) rows.push(['', check.what, ...blank(), check.ok ? 'ok' : 'FAIL']);
  }
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const numeric = (c: number): boolean => c >= 2 && c <= 7;
  const line = (cells: string[]): string =>
    `| ${cells.map((cell, c) => (numeric(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (numeric(c) ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function formatNotes(results: readonly ScenarioResult[]): string {
  const lines: string[] = [];
  for (const result of results) {
    const exempt = result.results.find((r) => r.tally.exempt > 0);
    const notes = [...result.notes];
    if (exempt) {
      notes.unshift(
        `${n(exempt.tally.exempt)} rows committed while the Redis subscriber was not subscribed (or just before) are not ` +
          `counted at Redis; ${n(exempt.tally.exemptReceived)} of them arrived anyway`,
      );
    }
    for (const r of result.results) {
      if (r.tally.lost > 0) {
        const ranges = r.tally.lostRanges.map(([from, to]) => (from === to ? `${from}` : `${from}-${to}`));
        notes.push(
          `${r.observer}: lost ids ${ranges.join(', ')}${r.tally.lostRanges.length >= 10 ? ', …' : ''}`,
        );
      }
    }
    if (notes.length > 0 || result.error) {
      lines.push(`${result.name} (${result.seconds.toFixed(0)} s):`);
      if (result.error) lines.push(`  error: ${result.error}`);
      for (const note of notes) lines.push(`  - ${note}`);
    }
  }
  return lines.join('\n');
}
