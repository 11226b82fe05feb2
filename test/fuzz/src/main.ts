/**
 * `pnpm fuzz`: throws generated frames, topics, filters, bindings and tokens at a running gateway
 * (see fuzz-run.ts) and prints a summary. Exits 1 when a check failed, with the shrunk
 * counterexample and the seed that replays it.
 *
 *   pnpm fuzz                  60 s
 *   pnpm fuzz --seconds 600    ten minutes (shrinking included)
 *   pnpm fuzz --runs 500       500 property runs (no time limit unless --seconds is given too)
 *   pnpm fuzz --seed 42        replay a campaign
 */
import { runFuzz, type FuzzOptions } from './fuzz-run';
import { formatReport } from './report';

/** A bad command line: reported without a stack trace. */
class UsageError extends Error {}

function parseArgs(argv: readonly string[]): FuzzOptions {
  const opts: FuzzOptions = {};
  const number = (flag: string, value: string | undefined): number => {
    const n = Number(value);
    if (value === undefined || !Number.isInteger(n) || n < 0)
      throw new UsageError(`${flag} needs a whole number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--runs') opts.runs = number(arg, argv[++i]);
    else if (arg === '--seconds') opts.seconds = number(arg, argv[++i]);
    else if (arg === '--seed') opts.seed = number(arg, argv[++i]);
    else if (arg === '--') continue;
    else throw new UsageError(`unknown argument ${arg}; use --runs N, --seconds S, --seed N`);
  }
  if (opts.runs !== undefined && opts.seconds === undefined) opts.seconds = 24 * 3600;
  return opts;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const report = await runFuzz({ ...opts, say: (line) => console.log(`  ${line}`) });
  console.log(`\n${formatReport(report)}`);
  return report.passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof UsageError ? err.message : err);
    process.exit(2);
  },
);
