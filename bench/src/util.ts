/** Small helpers shared by the benchmarks: timing, medians, table rows, CPU time of a pid. */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { BUS_MESSAGE_VERSION, encodeBusMessage } from '@walcast/protocol';

/** Milliseconds on a monotonic clock. */
export function nowMs(): number {
  return performance.now();
}

/** Wall-clock epoch milliseconds with sub-ms precision; comparable across processes on this box. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = Math.floor(finite.length / 2);
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `intervalMs` until it returns true or `timeoutMs` passes; returns whether it did. */
export async function pollUntil(check: () => boolean, timeoutMs: number, intervalMs = 5): Promise<boolean> {
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    if (check()) return true;
    await sleep(intervalMs);
  }
  return check();
}

/** user+system CPU seconds a process has used so far (Linux /proc), or NaN if it is gone. */
export function procCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after the comm field: state is index 0, utime index 11, stime index 12 (fields 14 and 15 of stat)
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

export function machineDescription(): string {
  const list = cpus();
  return `nproc=${list.length}, CPU=${list[0]?.model ?? 'unknown'}, Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** The 1-minute load average, to show how busy the shared machine was. */
export function load1(): string {
  return loadavg()[0]!.toFixed(1);
}

export interface ResultRow {
  benchmark: string;
  unit: string;
  figure: number;
  baselineName: string;
  baseline: number;
  samples: number[];
  baselineSamples: number[];
  /** Which way is good; the ratio is always walcast ÷ baseline. Default 'higher'. */
  better?: 'higher' | 'lower';
  /** Decimals to print (default 0). */
  digits?: number;
  note?: string;
}

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratio(a: number, b: number): string {
  if (!(Number.isFinite(a) && Number.isFinite(b) && b > 0)) return 'n/a';
  const r = a / b;
  return `${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}×`;
}

export function printTable(rows: ResultRow[]): void {
  const header = [
    'benchmark',
    'walcast (median)',
    'baseline',
    'baseline (median)',
    'ratio',
    'samples walcast / baseline',
    'note',
  ];
  const body = rows.map((r) => {
    const f = (n: number): string => fmt(n, r.digits ?? 0);
    return [
      r.benchmark,
      `${f(r.figure)} ${r.unit}`,
      r.baselineName,
      `${f(r.baseline)} ${r.unit}`,
      `${ratio(r.figure, r.baseline)}${r.better === 'lower' ? ' (lower is better)' : ''}`,
      `${r.samples.map(f).join(', ')} / ${r.baselineSamples.map(f).join(', ')}`,
      r.note ?? '',
    ];
  });
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => '---').join('|')}|`);
  for (const row of body) console.log(`| ${row.join(' | ')} |`);
}

/** The bus envelope of an INSERT-typed change from `src`: header line, `\n`, then the change event JSON. */
export function encodeEnvelope(
  src: string,
  seq: number,
  lsn: string,
  eventJson: string,
  pk: string[],
): string {
  return encodeBusMessage({ v: BUS_MESSAGE_VERSION, src, seq, lsn, type: 'INSERT', pk }, eventJson);
}

/** Bus topics come from @walcast/protocol, the one place that builds them. */
export { topicForTable } from '@walcast/protocol';

/** Latencies in 0.1 ms buckets up to 5 s (beyond: one overflow bucket); mergeable across processes. */
export class LatencyHistogram {
  static readonly BUCKET_MS = 0.1;
  static readonly BUCKETS = 50_000;
  private readonly counts = new Uint32Array(LatencyHistogram.BUCKETS + 1);
  count = 0;

  add(ms: number, times = 1): void {
    const i = Math.min(LatencyHistogram.BUCKETS, Math.max(0, Math.floor(ms / LatencyHistogram.BUCKET_MS)));
    this.counts[i]! += times;
    this.count += times;
  }

  /** Sparse [bucket, count] pairs. */
  toJSON(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    this.counts.forEach((c, i) => {
      if (c > 0) out.push([i, c]);
    });
    return out;
  }

  merge(pairs: Array<[number, number]>): void {
    for (const [i, c] of pairs) {
      this.counts[i]! += c;
      this.count += c;
    }
  }

  /** The upper edge of the bucket holding the p-th percentile (0 < p ≤ 100), in ms; NaN if empty. */
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return (i + 1) * LatencyHistogram.BUCKET_MS;
    }
    return Infinity;
  }
}

/** Resident set size of a process in bytes (Linux /proc), or NaN if it is gone. */
export function procRssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Seconds the process's main thread has spent runnable but waiting for a CPU (Linux
 * /proc/<pid>/schedstat, second field), or NaN. Tells "starved" apart from "idle".
 */
export function procRunDelaySeconds(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9;
  } catch {
    return NaN;
  }
}

/**
 * A change event (JSON text) on the benchmarks' table `public.t (id int8, n int4, s text, b bool)`,
 * as the ingester would publish it.
 */
export function tableTEvent(
  type: 'INSERT' | 'UPDATE',
  record: Record<string, unknown>,
  oldRecord?: Record<string, unknown>,
): string {
  return JSON.stringify({
    schema: 'public',
    table: 't',
    commit_timestamp: '2026-01-01T00:00:00.000000Z',
    errors: null,
    type,
    columns: [
      { name: 'id', type: 'int8' },
      { name: 'n', type: 'int4' },
      { name: 's', type: 'text' },
      { name: 'b', type: 'bool' },
    ],
    record,
    ...(oldRecord ? { old_record: oldRecord } : {}),
  });
}
