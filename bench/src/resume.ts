/**
 * Resume (`BENCH=resume`): how fast a client that rejoins with `since` gets what it missed. The
 * real pipeline (PostgreSQL → ingester → Redis with history → one gateway); table `t (id int primary
 * key, note text)`, 10,000 rows (RESUME_ROWS) committed in one transaction while the client is
 * away. Measured: from sending phx_join with `since` to receiving the last of the 10,000 replayed
 * changes (legacy topic `realtime:public:t`, vsn 1.0.0, one socket).
 *
 * Baseline, same run, same rows and socket: the same number of changes delivered live to a client
 * that stayed connected, from the COMMIT returning to the last frame (what a client waits for
 * changes it did not miss). 3 repetitions, each with new rows.
 */
import WebSocket from 'ws';
import { WalcastStack, sql, startBackends } from '@walcast/test-utils';
import { epochMs, median, type ResultRow } from './util';

const ROWS = Number(process.env['RESUME_ROWS'] ?? '10000');
const REPEATS = 3;
const TOPIC = 'realtime:public:t';
const TIMEOUT_MS = 60_000;

/** A raw Phoenix socket on the legacy topic, counting INSERT frames and keeping the last position. */
class Follower {
  inserts = 0;
  lastPosition: string | null = null;
  private waiters: Array<{ count: number; resolve(): void }> = [];
  private joined: (() => void) | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString()) as { event: string; payload: { position?: string } };
      if (msg.event === 'phx_reply') this.joined?.();
      if (msg.event !== 'INSERT') return;
      this.inserts++;
      this.lastPosition = msg.payload.position ?? this.lastPosition;
      this.waiters = this.waiters.filter((w) => {
        if (this.inserts < w.count) return true;
        w.resolve();
        return false;
      });
    });
  }

  static open(url: string): Promise<Follower> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('error', reject);
      ws.once('open', () => resolve(new Follower(ws)));
    });
  }

  /** Sends phx_join (with `since` if given) and resolves on its reply. */
  join(since: string | null): Promise<void> {
    return new Promise((resolve) => {
      this.joined = resolve;
      const payload = since ? { since } : {};
      this.ws.send(JSON.stringify({ topic: TOPIC, event: 'phx_join', payload, ref: '1', join_ref: '1' }));
    });
  }

  /** Resolves once `count` INSERT frames arrived in all. */
  received(count: number): Promise<void> {
    if (this.inserts >= count) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`resume: ${this.inserts}/${count} changes`)),
        TIMEOUT_MS,
      );
      this.waiters.push({
        count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

export async function benchResume(): Promise<ResultRow[]> {
  const backends = await startBackends();
  await sql(
    backends.pg.url,
    'create table t (id int primary key, note text)',
    'create publication supabase_realtime for table t',
  );
  const stack = await WalcastStack.start(backends, {
    ingesterEnv: { HISTORY_MAX_LEN: String(ROWS * 2), LOG_LEVEL: 'warn' },
    gatewayEnv: { LOG_LEVEL: 'warn' },
  });
  const url = `${stack.endpoint(0)}/websocket?vsn=1.0.0`;
  const db = backends.pg.url;
  const replayMs: number[] = [];
  const liveMs: number[] = [];
  try {
    let next = 1;
    const insert = async (n: number): Promise<void> => {
      await sql(db, `insert into t select g, 'row ' || g from generate_series(${next}, ${next + n - 1}) g`);
      next += n;
    };
    for (let rep = 0; rep <= REPEATS; rep++) {
      // Live: a client that stays connected.
      const live = await Follower.open(url);
      await live.join(null);
      await insert(1);
      await live.received(1);
      const since = live.lastPosition;
      const t0 = epochMs();
      await insert(ROWS);
      const committed = epochMs();
      await live.received(1 + ROWS);
      const liveTook = epochMs() - committed;
      live.close();
      // Replay: a client that was away for those rows comes back with `since`.
      const back = await Follower.open(url);
      const t1 = epochMs();
      await back.join(since);
      await back.received(ROWS);
      const replayTook = epochMs() - t1;
      back.close();
      const label = rep === 0 ? 'warm-up' : `#${rep}`;
      console.log(
        `  ${label}: replay ${ROWS} changes ${replayTook.toFixed(0)} ms; live ${liveTook.toFixed(0)} ms after commit ` +
          `(commit took ${(committed - t0).toFixed(0)} ms)`,
      );
      if (rep === 0) continue;
      replayMs.push(replayTook);
      liveMs.push(liveTook);
    }
  } finally {
    await stack.stop();
    await backends.stop();
  }
  return [
    {
      benchmark: `resume: ${ROWS.toLocaleString('en')} missed changes replayed after a join with since (target < 1,000 ms)`,
      unit: 'ms',
      figure: median(replayMs),
      baselineName: 'the same changes delivered live, from COMMIT to the last frame',
      baseline: median(liveMs),
      samples: replayMs,
      baselineSamples: liveMs,
      better: 'lower',
    },
  ];
}
