/**
 * `pnpm bench`: every figure beside a baseline measured in the same run, median of 3.
 * Select parts with BENCH=ingest,fanout,latency,connections,filters,isolation,rls,rls-verdicts,broadcast,presence,private-join,resume,cluster
 * (default: all).
 * Prints each part's wall time and the machine's load average before and after it, since the
 * machine is shared.
 */
import { execFileSync } from 'node:child_process';
import { benchBroadcast } from './broadcast';
import { benchCluster } from './cluster';
import { benchConnections } from './connections';
import { benchFanout } from './fanout';
import { benchFilters } from './filters';
import { benchIngest } from './ingest';
import { benchIsolation } from './isolation';
import { benchLatency } from './latency';
import { benchPresence } from './presence';
import { benchPrivateJoin } from './private-join';
import { benchResume } from './resume';
import { benchRls } from './rls';
import { benchRlsVerdicts } from './rls-verdicts';
import { load1, machineDescription, nowMs, printTable, type ResultRow } from './util';

const PARTS: Record<string, () => Promise<ResultRow[]> | ResultRow[]> = {
  ingest: benchIngest,
  fanout: benchFanout,
  latency: benchLatency,
  connections: benchConnections,
  filters: benchFilters,
  isolation: benchIsolation,
  rls: benchRls,
  'rls-verdicts': benchRlsVerdicts,
  broadcast: benchBroadcast,
  presence: benchPresence,
  'private-join': benchPrivateJoin,
  resume: benchResume,
  cluster: benchCluster,
};

async function main(): Promise<void> {
  const selected = (process.env['BENCH'] ?? 'all').split(',');
  let nproc = '?';
  try {
    nproc = execFileSync('nproc', { encoding: 'utf8' }).trim();
  } catch {
    // not fatal
  }
  console.log(`machine: ${machineDescription()} (nproc ${nproc})`);
  const rows: ResultRow[] = [];
  const t0 = nowMs();
  for (const [name, run] of Object.entries(PARTS)) {
    if (!selected.includes('all') && !selected.includes(name)) continue;
    const started = nowMs();
    console.log(`${name}… (load average ${load1()})`);
    rows.push(...(await run()));
    console.log(`${name}: ${((nowMs() - started) / 1000).toFixed(0)} s (load average ${load1()})`);
  }
  console.log(`\ntotal ${((nowMs() - t0) / 1000).toFixed(0)} s\n`);
  printTable(rows);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
