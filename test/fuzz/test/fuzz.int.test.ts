// The short fuzz run of `pnpm test` (and CI): about 25 s of generated sockets against a
// SECURE_CHANNELS gateway, under the same checks as `pnpm fuzz` (see docs/fuzzing.md). The seed
// changes every run, so CI keeps exploring; a failure prints the seed and the shrunk
// counterexample (`pnpm fuzz --seed <seed> --seconds 300` replays it and shrinks further).
import { runFuzz } from '../src/fuzz-run';
import { formatReport } from '../src/report';

const SECONDS = 25;

it(
  'a gateway under generated frames, topics, filters, bindings and tokens of both protocol versions ' +
    'stays up, responsive and lossless, and gives its memory back',
  async () => {
    const report = await runFuzz({ seconds: SECONDS });
    const summary = formatReport(report);
    console.log(summary); // the figures, also when the run passes
    expect(report.runs).toBeGreaterThan(0);
    expect(report.deliveriesChecked).toBeGreaterThan(0);
    if (!report.passed) throw new Error(`fuzzing found failures:\n${summary}`);
  },
  120_000,
);
