/**
 * Isolation: one stalled gateway must not slow the others. A control client on gateway A times
 * 20,000 rows of ~1 KB (one INSERT … SELECT, ~25 MB of bus messages: more than a stopped reader's
 * socket buffers take, so its backlog in Redis grows) from the commit to its last frame, while
 * gateway B, which has a client joined to the same table, is stopped (SIGSTOP: its event loop
 * stalls, it no longer reads Redis) for the whole transfer.
 *
 * Baseline, same run: the same transfer with gateway B running. Target: within 1.5× of it. A
 * last, single run with SUBSCRIBER_BACKLOG_LONE_WAIT equal to SUBSCRIBER_BACKLOG_MAX_WAIT (the
 * ingester waits for the stalled gateway as for any other, as it did before the distinction) is
 * printed for comparison, not tabled.
 *
 * This is a benchmark rather than a fault scenario because what it checks is a time against a
 * baseline of the same run; that no row is lost to the control client is checked here too (it
 * must receive every row, or the run fails).
 */
import { Client } from 'pg';
import { LocalPostgres, LocalRedis } from '@walcast/local-services';
import { PhoenixTestClient, type ServiceProcess } from '@walcast/test-utils';
import { startIngester } from './ingest-consumers';
import { startGateway, type Server } from './servers';
import { median, nowMs, pollUntil, type ResultRow } from './util';

const ROWS = Number(process.env['ISOLATION_ROWS'] ?? '20000');
const REPEATS = 3;
const CHANNEL = 'realtime:public:iso';
const TIMEOUT_MS = 60_000;

const SCHEMA = `
  create table iso (id bigint primary key, pad text not null);
  create publication supabase_realtime for table iso;`;

interface Setup {
  db: Client;
  gateways: [Server, Server];
  control: PhoenixTestClient;
  nextId: number;
}

/** A client of `server` joined to the table's channel. */
async function joinedClient(server: Server): Promise<PhoenixTestClient> {
  const client = await PhoenixTestClient.connect(server.url);
  const reply = await client.join(CHANNEL);
  if (reply.payload.status !== 'ok') throw new Error(`join refused: ${JSON.stringify(reply.payload)}`);
  return client;
}

/** INSERTs the control client has received so far. */
function received(client: PhoenixTestClient): number {
  let n = 0;
  for (const f of client.frames) if (f.event === 'INSERT') n++;
  return n;
}

/** One transfer: ms from the INSERT to the control client's last frame, with B stopped or not. */
async function transfer(s: Setup, stallB: boolean): Promise<number> {
  s.control.frames.splice(0); // only this transfer's frames
  const bClient = await joinedClient(s.gateways[1]);
  const first = s.nextId;
  s.nextId += ROWS;
  if (stallB) process.kill(s.gateways[1].pid, 'SIGSTOP');
  try {
    const t0 = nowMs();
    await s.db.query(
      `insert into iso select i, repeat(md5(i::text), 32) from generate_series(${first}, ${first + ROWS - 1}) i`,
    );
    // Changes are the only frames on the control client's channel: its frame count is enough.
    const done = await pollUntil(() => s.control.frames.length >= ROWS, TIMEOUT_MS, 2);
    const ms = nowMs() - t0;
    const got = received(s.control);
    if (!done || got !== ROWS) throw new Error(`control client received ${got} of ${ROWS} rows`);
    return ms;
  } finally {
    if (stallB) process.kill(s.gateways[1].pid, 'SIGCONT');
    // B's client is either sent every row or told it may have missed some (phx_error).
    await pollUntil(
      () => received(bClient) >= ROWS || bClient.frames.some((f) => f.event === 'phx_error'),
      TIMEOUT_MS,
      10,
    );
    await bClient.close();
  }
}

async function runAll(s: Setup, label: string): Promise<{ undisturbed: number[]; stalled: number[] }> {
  const undisturbed: number[] = [];
  const stalled: number[] = [];
  for (let rep = 0; rep < REPEATS; rep++) {
    undisturbed.push(await transfer(s, false));
    stalled.push(await transfer(s, true));
    console.log(
      `  ${label} rep ${rep + 1}: ${ROWS} rows, B running ${(undisturbed.at(-1)! / 1000).toFixed(2)} s, ` +
        `B stopped ${(stalled.at(-1)! / 1000).toFixed(2)} s`,
    );
  }
  return { undisturbed, stalled };
}

export async function benchIsolation(): Promise<ResultRow[]> {
  const pg = await LocalPostgres.start();
  const redis = await LocalRedis.start();
  const db = new Client({ connectionString: pg.url });
  let ingester: ServiceProcess | null = null;
  const gateways: Server[] = [];
  let control: PhoenixTestClient | null = null;
  try {
    await db.connect();
    await db.query(SCHEMA);
    ingester = await startIngester(pg.url, redis.url);
    await ingester.waitForReady();
    gateways.push(await startGateway(redis.url, []), await startGateway(redis.url, []));
    control = await joinedClient(gateways[0]!);
    const s: Setup = { db, gateways: [gateways[0]!, gateways[1]!], control, nextId: 1 };
    await transfer(s, false); // warm-up, not measured
    const { undisturbed, stalled } = await runAll(s, 'isolation');
    const closed = ingester.logs.filter((l) =>
      String(l['msg']).startsWith('closing a Redis subscriber'),
    ).length;
    console.log(
      `  the ingester closed gateway B's subscription (too far behind) in ${closed} of ${REPEATS} runs`,
    );

    // For comparison: the ingester waiting for the stalled gateway like for any other.
    await ingester.stop();
    ingester = await startIngester(pg.url, redis.url, { SUBSCRIBER_BACKLOG_LONE_WAIT: '10s' });
    await ingester.waitForReady();
    const waitedFor = await transfer(s, true);
    console.log(
      `  for comparison, the stalled gateway waited for up to 10 s (lone wait = max wait): ` +
        `${(waitedFor / 1000).toFixed(2)} s, ${(waitedFor / median(undisturbed)).toFixed(2)}× the undisturbed median`,
    );
    return [
      {
        benchmark: `isolation: ${ROWS.toLocaleString('en-US')} rows (~1 KB) to a client of gateway A while gateway B is stopped`,
        unit: 's',
        figure: median(stalled) / 1000,
        baselineName: 'same transfer, gateway B running',
        baseline: median(undisturbed) / 1000,
        samples: stalled.map((ms) => ms / 1000),
        baselineSamples: undisturbed.map((ms) => ms / 1000),
        better: 'lower',
        digits: 2,
        note: 'target ≤ 1.5×',
      },
    ];
  } finally {
    await control?.close().catch(() => undefined);
    for (const g of gateways) await g.stop().catch(() => undefined);
    await ingester?.stop().catch(() => undefined);
    await db.end().catch(() => undefined);
    await pg.destroy().catch(() => undefined);
    await redis.destroy().catch(() => undefined);
  }
}
