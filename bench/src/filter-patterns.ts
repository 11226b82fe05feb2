/**
 * Filter patterns: CPU time for the gateway's `RowFilter` (services/gateway/dist) to evaluate one
 * `like` or `match` condition on one row value. Baseline, in the same run: the same RowFilter with
 * the pattern swapped for the JavaScript RegExp the gateway ran before (`like` compiled to an
 * anchored RegExp, `match` as a RegExp), on inputs small enough for it to finish; on the attack
 * inputs at 100 KB, where that RegExp would run for minutes, an `eq` on the same value (the cost of
 * reading the value once). Timed like the filters part: CPU time, fastest of SAMPLES runs of about
 * SAMPLE_MS, median of REPEATS.
 */
import { parseFilter } from '../../services/gateway/dist/filters/filter-parser';
import { RowFilter } from '../../services/gateway/dist/filters/row-filter';
import { median, type ResultRow } from './util';

const REPEATS = 3;
const SAMPLE_MS = 60;
const SAMPLES = 5;
const LONG = 'a'.repeat(100_000);

interface Case {
  benchmark: string;
  filter: string;
  value: string;
  /** Whether the filter, and the baseline, match `value` (checked on every evaluation). */
  expected: boolean;
  baselineName: string;
  baseline: () => RowFilter;
}

/** The anchored RegExp the gateway compiled `like` patterns to before its own matcher. */
function likeRegExp(pattern: string): RegExp {
  let source = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) source += escape(pattern[++i]!);
    else if (c === '%' || c === '*') source += '[\\s\\S]*';
    else if (c === '_') source += '[\\s\\S]';
    else source += escape(c);
  }
  return new RegExp(`${source}$`);
}

const escape = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');

/** `filter` (one condition) with its compiled pattern replaced by `regex`. */
function withRegExp(filter: string, regex: RegExp): RowFilter {
  const conditions = parseFilter(filter);
  conditions[0]!.pattern = regex;
  return new RowFilter(conditions);
}

const oldLike = (pattern: string) => (): RowFilter => withRegExp(`name=like.${pattern}`, likeRegExp(pattern));
const oldMatch = (pattern: string) => (): RowFilter =>
  withRegExp(`name=match.${pattern}`, new RegExp(pattern));
const eqOnValue = (value: string) => (): RowFilter => new RowFilter(parseFilter(`name=eq.${value}x`));

const CASES: Case[] = [
  {
    benchmark: 'like `%bob%`, 64-char value',
    filter: 'name=like.%bob%',
    value: `${'x'.repeat(40)}bob${'y'.repeat(21)}`,
    expected: true,
    baselineName: 'the RegExp the gateway used before',
    baseline: oldLike('%bob%'),
  },
  {
    benchmark: 'like `%%%%%%x` (no match), 40-char value',
    filter: 'name=like.%%%%%%x',
    value: 'a'.repeat(40),
    expected: false,
    baselineName: 'the RegExp the gateway used before',
    baseline: oldLike('%%%%%%x'),
  },
  {
    benchmark: 'like 24 `%` then `x` (no match), 100 KB value',
    filter: `name=like.${'%'.repeat(24)}x`,
    value: LONG,
    expected: false,
    baselineName: '`eq` on the same value (RegExp: minutes)',
    baseline: eqOnValue(LONG),
  },
  {
    benchmark: 'like `%` + `a_`×200 + `b%` (no match), 100 KB value',
    filter: `name=like.%${'a_'.repeat(200)}b%`,
    value: LONG,
    expected: false,
    baselineName: '`eq` on the same value',
    baseline: eqOnValue(LONG),
  },
  {
    benchmark: 'match `^A[0-9]+$`, 6-char value',
    filter: 'name=match.^A[0-9]+$',
    value: 'A12345',
    expected: true,
    baselineName: 'JavaScript RegExp, same pattern',
    baseline: oldMatch('^A[0-9]+$'),
  },
  {
    benchmark: 'match `(a*)*b` (no match), 22-char value',
    filter: 'name=match.(a*)*b',
    value: 'a'.repeat(22),
    expected: false,
    baselineName: 'JavaScript RegExp, same pattern',
    baseline: oldMatch('(a*)*b'),
  },
  {
    benchmark: 'match `(.*)*x` (no match), 100 KB value',
    filter: 'name=match.(.*)*x',
    value: LONG,
    expected: false,
    baselineName: '`eq` on the same value (RegExp: minutes)',
    baseline: eqOnValue(LONG),
  },
  {
    // No literal the value must hold, so RE2 reads every character.
    benchmark: 'match `(a*)*[^a]` (no match), 100 KB value',
    filter: 'name=match.(a*)*[^a]',
    value: LONG,
    expected: false,
    baselineName: '`eq` on the same value (RegExp: minutes)',
    baseline: eqOnValue(LONG),
  },
];

const typeOf = (): string => 'text';

/** CPU nanoseconds per evaluation: the fastest of SAMPLES runs of about SAMPLE_MS, after a warm-up. */
function timeEvaluation(filter: RowFilter, value: string, expected: boolean): number {
  const row = { name: value };
  const run = (iterations: number): number => {
    const t0 = process.cpuUsage();
    for (let i = 0; i < iterations; i++) {
      if (filter.matches(row, typeOf) !== expected) throw new Error(`expected ${String(expected)}`);
    }
    const used = process.cpuUsage(t0);
    return (used.user + used.system) / 1000;
  };
  let iterations = 1;
  while (run(iterations) < 20) iterations *= 2;
  const count = Math.max(1, Math.round((SAMPLE_MS * iterations) / run(iterations)));
  let best = Infinity;
  for (let sample = 0; sample < SAMPLES; sample++) best = Math.min(best, run(count));
  return (best * 1e6) / count;
}

export function benchFilterPatterns(): ResultRow[] {
  return CASES.map((c) => {
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let rep = 0; rep < REPEATS; rep++) {
      ours.push(timeEvaluation(new RowFilter(parseFilter(c.filter)), c.value, c.expected));
      theirs.push(timeEvaluation(c.baseline(), c.value, c.expected));
    }
    console.log(
      `  ${c.benchmark}: ${ours.map((x) => x.toFixed(0)).join('/')} ns, ` +
        `${c.baselineName} ${theirs.map((x) => x.toFixed(0)).join('/')} ns`,
    );
    return {
      benchmark: `filter ${c.benchmark}`,
      unit: 'ns/evaluation',
      figure: median(ours),
      baselineName: c.baselineName,
      baseline: median(theirs),
      samples: ours,
      baselineSamples: theirs,
      better: 'lower' as const,
    };
  });
}
