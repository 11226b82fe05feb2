/**
 * One fuzz campaign: starts a {@link FuzzTarget}, lets fast-check throw generated sockets at its
 * gateway, and checks after every property run that
 *
 *   - the gateway process is alive;
 *   - its event loop was never blocked longer than `maxDelayMs` (measured inside the gateway, less
 *     the machine's own scheduling noise over the same interval: see noise-probe.ts);
 *   - the control client received every row committed meanwhile, once and in order;
 *   - once the fuzz sockets are closed, connections, channels and Redis subscriptions are back to
 *     their resting values;
 *
 * and at the end that the gateway's RSS came back within 20% (+ {@link RSS_SLACK_BYTES}) of its
 * resting level after the memory warm-up (warm-up.ts). Never throws for a failed check: the report
 * says what failed.
 */
import fc from 'fast-check';
import { PhoenixTestClient, WebSocketUpgradeError, waitFor } from '@walcast/test-utils';

import { DEFAULT_LIMITS, fuzzRun, type FuzzLimits } from './arbitraries';
import type { GatewayReading } from './gateway-metrics';
import { RefState, heartbeatFrame, render } from './render';
import type { ActionKind, SocketSession, Vsn } from './shapes';
import { FuzzTarget } from './fuzz-target';
import { mintToken } from './tokens';

/**
 * Absolute RSS slack on top of 20%: the young generation alone may hold up to 3 × 16 MiB
 * (semi-spaces in Node 20) more at one reading than at another, whatever was freed. A leak of the
 * sockets' channels, topics or subscriptions grows with every run of the known attacks (a 4 MB
 * topic, 10,000 joins) and passes this within a few runs.
 */
export const RSS_SLACK_BYTES = 48 * 1024 * 1024;
/** How long the RSS may take to come back once the sockets are closed (V8 frees memory lazily). */
const RSS_SETTLE_MS = 10_000;
/** A fuzz socket's heartbeat, the control client's next row, a scrape: each within this. */
const SETTLE_MS = 5000;

export interface FuzzOptions {
  /** Property runs; default unlimited (then `seconds` bounds the campaign). */
  runs?: number;
  /** Time limit of the campaign (shrinking included); default 60. */
  seconds?: number;
  seed?: number;
  limits?: FuzzLimits;
  /** Longest event-loop delay allowed; default 100 ms. */
  maxDelayMs?: number;
  say?: (line: string) => void;
}

export interface FuzzReport {
  seed: number;
  /** Property runs, the shrinking ones included. */
  runs: number;
  sockets: number;
  /** Sockets whose upgrade the gateway refused (bad token or vsn), as designed. */
  refusedSockets: number;
  frames: number;
  actions: Partial<Record<ActionKind, number>>;
  maxDelayMs: number;
  /** The idle noise probe's longest delay over the same intervals (CPU contention on the box). */
  maxNoiseMs: number;
  /** Longest gateway delay less the probe's over the same interval: what the limit applies to. */
  maxOwnDelayMs: number;
  maxBusSubscriptions: number;
  /** Highest RSS read while the fuzz sockets were open. */
  peakRssBytes: number;
  deliveriesChecked: number;
  restarts: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  /** Null when not compared: the last run left the gateway crashed or blocked. */
  rssOk: boolean | null;
  /** The property failed: the shrunk counterexample and what it broke. */
  failure: { counterexample: string; error: string; shrinks: number } | null;
  /** Every kind of failure seen while searching and shrinking: the first message, and how often. */
  findings: Array<{ message: string; count: number }>;
  seconds: number;
  passed: boolean;
}

export async function runFuzz(opts: FuzzOptions = {}): Promise<FuzzReport> {
  const started = Date.now();
  const say = opts.say ?? (() => undefined);
  const maxDelayMs = opts.maxDelayMs ?? 100;
  const seed = opts.seed ?? Date.now() % 2 ** 31;
  const report: FuzzReport = {
    seed,
    runs: 0,
    sockets: 0,
    refusedSockets: 0,
    frames: 0,
    actions: {},
    maxDelayMs: 0,
    maxNoiseMs: 0,
    maxOwnDelayMs: 0,
    maxBusSubscriptions: 0,
    peakRssBytes: 0,
    deliveriesChecked: 0,
    restarts: 0,
    rssBeforeBytes: 0,
    rssAfterBytes: 0,
    rssOk: null,
    failure: null,
    findings: [],
    seconds: 0,
    passed: false,
  };
  const target = await FuzzTarget.start();
  let inFlight: Promise<unknown> = Promise.resolve();
  try {
    say(`gateway up (RSS ${mib(target.baseline.rssBytes)}); seed ${seed}`);
    const property: fc.IAsyncProperty<[SocketSession[]]> = fc.asyncProperty(
      fuzzRun(opts.limits ?? DEFAULT_LIMITS),
      (sessions) => {
        const run = fuzzOnce(target, sessions, report, maxDelayMs);
        inFlight = run.catch(() => undefined);
        return run.catch((err: unknown) => {
          const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
          const kind = (m: string): string => m.replace(/\d+/g, '#');
          const seen = report.findings.find((f) => kind(f.message) === kind(message));
          if (seen !== undefined) seen.count++;
          else {
            report.findings.push({ message, count: 1 });
            say(`found: ${message}`);
          }
          throw err;
        });
      },
    );
    const details = await fc.check<[SocketSession[]]>(property, {
      seed,
      numRuns: opts.runs ?? Number.MAX_SAFE_INTEGER,
      plugins: [fc.interruptAfterTimeLimit((opts.seconds ?? 60) * 1000)],
    });
    await inFlight; // an interrupted run keeps going; let it finish before reading the gateway
    if (details.failed && details.counterexample !== null) {
      report.failure = {
        // fc.record builds objects without a prototype; fc.stringify marks each of them.
        counterexample: fc.stringify(details.counterexample[0]).replaceAll('{__proto__:null,', '{'),
        error:
          details.errorInstance instanceof Error
            ? details.errorInstance.message
            : String(details.errorInstance),
        shrinks: details.numShrinks,
      };
    }
    const rss = await settledRss(target);
    report.rssBeforeBytes = rss.before;
    report.rssAfterBytes = rss.after;
    report.rssOk = rss.ok;
  } finally {
    await inFlight;
    report.deliveriesChecked = target.deliveriesChecked;
    report.restarts = target.restarts;
    await target.stop();
  }
  report.seconds = (Date.now() - started) / 1000;
  report.passed = report.failure === null && report.findings.length === 0 && report.rssOk !== false;
  return report;
}

/** One property run: open the sockets, send everything, wait, close them, check. Throws on a failed check. */
async function fuzzOnce(
  target: FuzzTarget,
  sessions: SocketSession[],
  report: FuzzReport,
  maxDelayMs: number,
): Promise<void> {
  await target.ensureHealthy();
  report.runs++;
  const problems: string[] = [];
  const clients: PhoenixTestClient[] = [];
  let during: Reading | null = null;
  try {
    for (const session of sessions) {
      const client = await connect(target.url, session, report);
      if (client === null) continue;
      clients.push(client);
      const refs = new RefState();
      for (const action of session.actions) {
        for (const data of render(action, client.vsn as Vsn, refs)) {
          client.sendRaw(data);
          report.frames++;
        }
        report.actions[action.kind] = (report.actions[action.kind] ?? 0) + 1;
      }
    }
    // Everything sent has been handled once each open socket answers a heartbeat sent after it.
    const answered = await Promise.all(clients.map((client) => settled(client)));
    if (answered.includes(false)) {
      problems.push(`a fuzz socket got no heartbeat reply within ${SETTLE_MS} ms`);
    } else {
      // A row committed now meets every channel the fuzz sockets still hold, filters included.
      const id = await target.writer.nextCommit();
      if (!(await target.control.waitFor(id, SETTLE_MS)))
        problems.push(`the control client did not receive row ${id} within ${SETTLE_MS} ms`);
      else during = await target.read(SETTLE_MS).catch(() => null);
    }
  } finally {
    await Promise.all(clients.map((c) => c.terminate()));
  }
  const after = await afterRun(target, report, maxDelayMs, during);
  problems.push(...after.problems, ...target.control.problems.splice(0));
  if (problems.length > 0) {
    target.needsRestart = true;
    throw new Error(problems.join('; '));
  }
}

/** False when `client` is open but did not answer a heartbeat within {@link SETTLE_MS}. */
async function settled(client: PhoenixTestClient): Promise<boolean> {
  if (!client.isOpen) return true; // closed by the gateway (e.g. a frame over MAX_FRAME_SIZE): allowed
  client.sendRaw(heartbeatFrame(client.vsn as Vsn, 'settle'));
  try {
    await client.next((f) => f.topic === 'phoenix' && f.ref === 'settle', SETTLE_MS);
    return true;
  } catch {
    return !client.isOpen;
  }
}

async function connect(
  url: string,
  session: SocketSession,
  report: FuzzReport,
): Promise<PhoenixTestClient | null> {
  const query = new URLSearchParams({ vsn: session.vsn });
  if (session.token !== null) query.set('apikey', mintToken(session.token));
  report.sockets++;
  try {
    return await PhoenixTestClient.connect(`${url}?${query}`);
  } catch (err) {
    if (err instanceof WebSocketUpgradeError) {
      report.refusedSockets++;
      return null;
    }
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`a fuzz socket could not connect (${reason}): the gateway is blocked or gone`);
  }
}

/** The checks once the fuzz sockets are closed. */
async function afterRun(
  target: FuzzTarget,
  report: FuzzReport,
  maxDelayMs: number,
  during: Reading | null,
): Promise<{ problems: string[]; rest: Reading | null }> {
  const exit = target.exitDescription();
  if (exit !== null) return { problems: [exit], rest: null };
  let reading: Reading;
  try {
    reading = await target.read(SETTLE_MS);
  } catch {
    return {
      problems: [`the gateway's /metrics did not answer within ${SETTLE_MS} ms (event loop blocked)`],
      rest: null,
    };
  }
  const problems: string[] = [];
  if (during !== null) note(report, during);
  note(report, reading);
  const worst = [during, reading].reduce<Reading>(
    (a, b) => (b !== null && ownDelay(b) > ownDelay(a) ? b : a),
    reading,
  );
  if (ownDelay(worst) > maxDelayMs) {
    problems.push(
      `event loop blocked for ${worst.loopDelayMaxMs.toFixed(0)} ms (limit ${maxDelayMs} ms; ` +
        `an idle process waited ${worst.noiseMs.toFixed(0)} ms meanwhile)`,
    );
  }
  const rest = target.baseline;
  const atRest = (r: Reading): boolean =>
    r.connections === rest.connections &&
    r.channels === rest.channels &&
    r.busSubscriptions === rest.busSubscriptions;
  try {
    await waitFor(async () => atRest((reading = await target.read(SETTLE_MS))), {
      timeoutMs: SETTLE_MS,
      intervalMs: 100,
    });
  } catch {
    problems.push(
      `after the fuzz sockets closed: ${reading.connections} connections, ${reading.channels} channels, ` +
        `${reading.busSubscriptions} Redis subscriptions (at rest: ${rest.connections}, ${rest.channels}, ${rest.busSubscriptions})`,
    );
  }
  return { problems, rest: reading };
}

type Reading = GatewayReading & { noiseMs: number };

/** The gateway's delay less the machine's scheduling noise over the same interval. */
function ownDelay(r: Reading): number {
  return Math.max(0, r.loopDelayMaxMs - r.noiseMs);
}

function note(report: FuzzReport, reading: Reading): void {
  report.maxDelayMs = Math.max(report.maxDelayMs, reading.loopDelayMaxMs);
  report.maxNoiseMs = Math.max(report.maxNoiseMs, reading.noiseMs);
  report.maxOwnDelayMs = Math.max(report.maxOwnDelayMs, ownDelay(reading));
  report.maxBusSubscriptions = Math.max(report.maxBusSubscriptions, reading.busSubscriptions);
  report.peakRssBytes = Math.max(report.peakRssBytes, reading.rssBytes);
}

/**
 * Waits up to {@link RSS_SETTLE_MS} for the gateway's RSS to come back within bounds of the memory
 * baseline. Not measured (null) when the last run left the gateway failed.
 */
async function settledRss(
  target: FuzzTarget,
): Promise<{ before: number; after: number; ok: boolean | null }> {
  const before = target.baseline.rssBytes;
  let after = Number.NaN;
  if (target.needsRestart || !target.gateway.isRunning()) return { before, after, ok: null };
  const bound = before * 1.2 + RSS_SLACK_BYTES;
  const deadline = Date.now() + RSS_SETTLE_MS;
  do {
    after = (await target.read(SETTLE_MS).catch(() => null))?.rssBytes ?? Number.NaN;
    if (after <= bound) return { before, after, ok: true };
    await new Promise((resolve) => setTimeout(resolve, 500));
  } while (Date.now() < deadline);
  return { before, after, ok: false };
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
