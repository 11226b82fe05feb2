/** The summary `pnpm fuzz` prints and the short run's failure message. */
import { RSS_SLACK_BYTES, mib, type FuzzReport } from './fuzz-run';

export function formatReport(r: FuzzReport): string {
  const kinds = Object.entries(r.actions)
    .sort(([, a], [, b]) => b - a)
    .map(([kind, n]) => `${kind} ${n.toLocaleString('en')}`)
    .join(', ');
  const lines = [
    `seed ${r.seed}: ${r.runs.toLocaleString('en')} property runs in ${r.seconds.toFixed(0)} s`,
    `sockets ${r.sockets.toLocaleString('en')} (${r.refusedSockets.toLocaleString('en')} refused at connect), frames sent ${r.frames.toLocaleString('en')}`,
    `actions: ${kinds}`,
    `max event-loop delay ${r.maxDelayMs.toFixed(1)} ms (an idle process on the box: up to ${r.maxNoiseMs.toFixed(1)} ms; ` +
      `the gateway's own at most ${r.maxOwnDelayMs.toFixed(1)} ms)`,
    `most Redis subscriptions at once ${r.maxBusSubscriptions.toLocaleString('en')}`,
    r.rssOk === null
      ? 'gateway RSS not compared: the last run left the gateway failed'
      : `gateway RSS after the warm-up ${mib(r.rssBeforeBytes)}, at the end ${mib(r.rssAfterBytes)} ` +
        `(bound: +20% + ${mib(RSS_SLACK_BYTES)}): ${r.rssOk ? 'ok' : 'FAILED'}; peak ${mib(r.peakRssBytes)}`,
    `deliveries checked by the control client ${r.deliveriesChecked.toLocaleString('en')}; gateway restarts after failures ${r.restarts}`,
  ];
  if (r.findings.length > 0) {
    lines.push('failures found (kinds of failure; the first message of each, and how many runs):');
    lines.push(...r.findings.map((f) => `  - ${f.count}× ${f.message.slice(0, 600)}`));
  }
  if (r.failure !== null) {
    lines.push(
      `shrunk counterexample (${r.failure.shrinks} shrinks; replay with --seed ${r.seed}):`,
      `  ${r.failure.counterexample.slice(0, 4000)}`,
      `  broke: ${r.failure.error.slice(0, 2000)}`,
    );
  }
  lines.push(r.passed ? 'passed' : 'FAILED');
  return lines.join('\n');
}
