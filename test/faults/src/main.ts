/**
 * `pnpm faults`: runs every fault scenario and prints, per scenario and observer, committed,
 * received, lost and duplicated rows, and the clients' refetches. Exits 1 when the bar is missed:
 * any row lost at Redis, any row lost by any client (rows it refetched after a HistoryGap count as
 * received), any row delivered that was never committed, or a scenario's own check (e.g. the
 * 1,000,000-row transaction's memory bound) failing.
 *
 *   pnpm faults                 every scenario
 *   pnpm faults --fast          the fast ones (FAULTS=fast does the same); CI runs these
 *   pnpm faults --only <name>   one scenario (repeatable)
 */
import { runScenario, type ScenarioResult } from './harness';
import { formatNotes, formatResults } from './report';
import { SCENARIOS } from './scenarios';

/** A bad command line: reported without a stack trace. */
class UsageError extends Error {}

function parseArgs(argv: readonly string[]): { fast: boolean; only: string[] } {
  let fast = process.env['FAULTS'] === 'fast';
  const only: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--fast') fast = true;
    else if (arg === '--only' && argv[i + 1] !== undefined) only.push(argv[++i]!);
    else if (arg.startsWith('--only=')) only.push(arg.slice('--only='.length));
    else if (arg === '--') continue;
    else throw new UsageError(`unknown argument ${arg}; use --fast or --only <scenario>`);
  }
  const known = new Set(SCENARIOS.map((s) => s.name));
  for (const name of only) {
    if (!known.has(name)) throw new UsageError(`no scenario ${name}; scenarios: ${[...known].join(', ')}`);
  }
  return { fast, only };
}

async function main(): Promise<number> {
  const { fast, only } = parseArgs(process.argv.slice(2));
  const chosen = SCENARIOS.filter((s) => (only.length > 0 ? only.includes(s.name) : !fast || s.fast));
  console.log(`fault scenarios: ${chosen.map((s) => s.name).join(', ')}`);
  const results: ScenarioResult[] = [];
  for (const scenario of chosen) {
    console.log(`\n▶ ${scenario.name}`);
    const result = await runScenario(scenario, (line) => console.log(line));
    console.log(`  ${result.passed ? 'passed' : 'FAILED'} in ${result.seconds.toFixed(1)} s`);
    results.push(result);
  }
  console.log(`\n${formatResults(results)}\n`);
  const notes = formatNotes(results);
  if (notes) console.log(`${notes}\n`);
  const failed = results.filter((r) => !r.passed).map((r) => r.name);
  console.log(failed.length === 0 ? 'bar met in every scenario' : `bar missed: ${failed.join(', ')}`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof UsageError ? err.message : err);
    process.exit(2);
  },
);
