/**
 * `pnpm bench`: every figure beside a baseline measured in the same run, median of 3.
 * Select with BENCH=ingest or BENCH=fanout (default: both).
 */
import { execFileSync } from 'node:child_process';
import { benchIngest } from './ingest';
import { benchFanout } from './fanout';
import { benchFilters } from './filters';
import { machineDescription, printTable, type ResultRow } from './util';

async function main(): Promise<void> {
  const which = process.env['BENCH'] ?? 'all';
  let nproc = '?';
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // not fatal
  }
  console.log(`machine: ${machineDescription()} (nproc ${nproc})`);
  const rows: ResultRow[] = [];
  if (which === 'all' || which === 'ingest') {
    console.log('ingest…');
    rows.push(...(await benchIngest()));
  }
  if (which === 'all' || which === 'fanout') {
    console.log('fan-out…');
    rows.push(...(await benchFanout()));
  }
  if (which === 'all' || which === 'filters') {
    console.log('filters…');
    rows.push(...benchFilters());
  }
  console.log('');
  printTable(rows);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
