/**
 * Connections: resident memory per idle websocket on one server, at 10,000 and 19,000 sockets
 * (a process may open 20,000 files here). Per repetition a fresh server; RSS is read from /proc
 * (after a 1 s settle) before the first socket, after 10,000 sockets have connected (upgrade done,
 * nothing joined), after they joined `realtime:public:t` (legacy join), and after 9,000 more have
 * connected and joined. Per socket = RSS delta ÷ sockets. Clients are spread over 8 processes and
 * 8 source addresses. Kernel socket buffers are not in RSS.
 */
import { LocalRedis } from '@walcast/local-services';
import { ClientFleet } from './load-clients';
import { startGateway, startWsBaseline, type Server } from './servers';
import { median, nowMs, procRssBytes, sleep, topicForTable, type ResultRow } from './util';

const FIRST = 10_000;
const TOTAL = 19_000;
const PROCS = 4;
const REPEATS = 3;
const SETTLE_MS = 1000;
const CHANNEL = 'realtime:public:t';

/** Bytes of RSS per socket. */
interface Sample {
  connected10k: number;
  joined10k: number;
  joined19k: number;
  /** (RSS at 19k joined − RSS at 10k joined) ÷ 9k: insensitive to start-up garbage collected meanwhile. */
  joinedMarginal: number;
}

/**
 * One fresh server: 10,000 sockets connect (→ connected10k), join (→ joined10k); 9,000 more connect
 * and join (→ joined19k). Deltas are from the settled RSS before the first socket.
 */
async function measureOnce(server: Server): Promise<Sample> {
  const first = ClientFleet.start([server.url], FIRST, PROCS, CHANNEL);
  const second = ClientFleet.start([server.url], TOTAL - FIRST, PROCS, CHANNEL, PROCS);
  const rss = async (): Promise<number> => {
    await sleep(SETTLE_MS);
    return procRssBytes(server.pid);
  };
  try {
    const rss0 = await rss();
    const t0 = nowMs();
    const open = await first.connect(false);
    if (open !== FIRST) throw new Error(`${server.name}: ${open}/${FIRST} sockets open`);
    const t1 = nowMs();
    const connected10k = ((await rss()) - rss0) / FIRST;
    await first.ask({ cmd: 'join' }, 'joined', 120_000);
    const t2 = nowMs();
    const rss10k = await rss();
    const joined10k = (rss10k - rss0) / FIRST;
    const more = await second.connect(true);
    if (more !== TOTAL - FIRST) throw new Error(`${server.name}: ${more}/${TOTAL - FIRST} more sockets`);
    const t3 = nowMs();
    const rss19k = await rss();
    const joined19k = (rss19k - rss0) / TOTAL;
    const joinedMarginal = (rss19k - rss10k) / (TOTAL - FIRST);
    console.log(
      `  connections ${server.name}: connect 10k ${(t1 - t0).toFixed(0)} ms, join 10k ${(t2 - t1).toFixed(0)} ms, ` +
        `connect+join 9k ${(t3 - t2).toFixed(0)} ms; per socket ${connected10k.toFixed(0)} B (10k connected), ` +
        `${joined10k.toFixed(0)} B (10k joined), ${joined19k.toFixed(0)} B (19k joined), ` +
        `${joinedMarginal.toFixed(0)} B (each of the 9k after 10k)`,
    );
    return { connected10k, joined10k, joined19k, joinedMarginal };
  } finally {
    first.stop();
    second.stop();
    await server.stop();
  }
}

const ROWS: Array<{ key: keyof Sample; label: string }> = [
  { key: 'connected10k', label: '10,000 sockets connected, not joined' },
  { key: 'joined10k', label: '10,000 sockets joined to one channel' },
  { key: 'joined19k', label: '19,000 sockets joined to one channel' },
  { key: 'joinedMarginal', label: 'joined, marginal from 10,000 to 19,000' },
];

export async function benchConnections(): Promise<ResultRow[]> {
  const redis = await LocalRedis.start();
  const busTopic = topicForTable('public', 't');
  const rows: ResultRow[] = [];
  try {
    const gw: Sample[] = [];
    const ws: Sample[] = [];
    for (let rep = 0; rep < REPEATS; rep++) {
      gw.push(await measureOnce(await startGateway(redis.url)));
      ws.push(await measureOnce(await startWsBaseline(redis.url, busTopic, CHANNEL)));
    }
    for (const { key, label } of ROWS) {
      const a = gw.map((s) => s[key]);
      const b = ws.map((s) => s[key]);
      rows.push({
        benchmark: `memory per idle socket, ${label}`,
        unit: 'B RSS',
        figure: median(a),
        baselineName: 'minimal `ws` server',
        baseline: median(b),
        samples: a,
        baselineSamples: b,
        better: 'lower',
        note: 'target ≤ 4,096 B',
      });
    }
  } finally {
    await redis.destroy().catch(() => undefined);
  }
  return rows;
}
