import { spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  findPostgresBinDir,
  freePort,
  LocalPostgres,
  LocalRedis,
  LocalRedisCluster,
  LocalServiceError,
  queryRedis,
  RedisReplyError,
  pingPostgres,
  pingRedis,
} from '../src/index';

// Servers from this package must be observable without a driver, so these tests use the raw
// protocol probes; SQL-level checks (data surviving a crash) live in packages/test-utils/test.

/** Pids whose command line mentions `needle` (e.g. a data directory). */
function pidsMentioning(needle: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle);
      } catch {
        return false; // exited while scanning
      }
    })
    .map(Number);
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe('findPostgresBinDir', () => {
  const saved = process.env['PG_BIN_DIR'];
  afterEach(() => {
    if (saved === undefined) delete process.env['PG_BIN_DIR'];
    else process.env['PG_BIN_DIR'] = saved;
  });

  it('finds a directory with initdb, postgres and pg_ctl', () => {
    const dir = findPostgresBinDir();
    expect(dir).not.toBeNull();
    for (const bin of ['initdb', 'postgres', 'pg_ctl']) expect(existsSync(join(dir ?? '', bin))).toBe(true);
  });

  it('trusts only PG_BIN_DIR when it is set, and start() then says what to install', async () => {
    process.env['PG_BIN_DIR'] = '/nonexistent/bin';
    expect(findPostgresBinDir()).toBeNull();
    const err = await LocalPostgres.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalServiceError);
    expect(err).toMatchObject({
      code: 'BinaryNotFound',
      message: expect.stringContaining('apt-get install postgresql-15'),
    });
  });
});

describe('LocalPostgres', () => {
  let pg: LocalPostgres;

  beforeAll(async () => {
    pg = await LocalPostgres.start();
  });
  afterAll(async () => {
    await pg?.destroy();
  });

  it('accepts connections on 127.0.0.1 and exposes a matching url', async () => {
    expect(pg.url).toBe(`postgres://postgres@127.0.0.1:${pg.port}/postgres`);
    expect(pg.isRunning()).toBe(true);
    expect(await pingPostgres({ host: pg.host, port: pg.port })).toBe('ready');
    expect(existsSync(join(pg.dataDir, 'PG_VERSION'))).toBe(true);
  });

  it('stop(fast) takes it down and start() brings it back on the same port after a clean shutdown', async () => {
    const port = pg.port;
    await pg.stop('fast');
    expect(pg.isRunning()).toBe(false);
    expect(await pingPostgres({ host: pg.host, port })).toBe('unreachable');
    expect(pidsMentioning(pg.dataDir)).toEqual([]);
    await pg.start();
    expect(pg.port).toBe(port);
    expect(await pingPostgres({ host: pg.host, port })).toBe('ready');
    expect(pg.logTail(20).join('\n')).toMatch(/database system was shut down at/);
  });

  it('kill() leaves no postgres process behind, and start() runs crash recovery', async () => {
    await pg.kill();
    expect(pg.isRunning()).toBe(false);
    expect(pidsMentioning(pg.dataDir)).toEqual([]);
    await pg.start();
    expect(await pingPostgres({ host: pg.host, port: pg.port })).toBe('ready');
    expect(pg.logTail(20).join('\n')).toMatch(/not properly shut down; automatic recovery in progress/);
  });

  it('stop(immediate) also requires recovery; restart(smart) is clean', async () => {
    await pg.stop('immediate');
    expect(pg.isRunning()).toBe(false);
    await pg.start();
    expect(pg.logTail(20).join('\n')).toMatch(/not properly shut down/);
    await pg.restart('smart');
    expect(await pingPostgres({ host: pg.host, port: pg.port })).toBe('ready');
    expect(pg.logTail(20).join('\n')).toMatch(/database system was shut down at/);
  });

  it('fails with StartFailed and the log tail when its fixed port is taken', async () => {
    const port = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    try {
      const err = await LocalPostgres.start({ port }).catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: 'StartFailed',
        message: expect.stringMatching(/Address already in use/),
      });
    } finally {
      blocker.close();
    }
  });

  it('destroy() stops the server and removes its data directory', async () => {
    const other = await LocalPostgres.start({ settings: { max_connections: 20 } });
    const dataDir = other.dataDir;
    await other.destroy();
    expect(other.isRunning()).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
    expect(await pingPostgres({ host: other.host, port: other.port })).toBe('unreachable');
    await expect(other.start()).rejects.toThrow(/destroyed/);
  });
});

describe('LocalPostgres with a caller-chosen dataDir', () => {
  it('reuses the cluster across instances, keeps it when a start fails, and destroy() deletes it', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'walcast-ls-test-'));
    chmodSync(parent, 0o755); // as root the server runs as postgres, which must reach its data dir
    const dataDir = join(parent, 'pgdata');
    try {
      const first = await LocalPostgres.start({ dataDir });
      expect(first.dataDir).toBe(dataDir);
      writeFileSync(join(dataDir, 'marker'), 'kept');
      await first.stop();

      const port = await freePort();
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
      await expect(LocalPostgres.start({ dataDir, port })).rejects.toMatchObject({ code: 'StartFailed' });
      blocker.close();
      expect(existsSync(join(dataDir, 'marker'))).toBe(true);

      const second = await LocalPostgres.start({ dataDir });
      expect(await pingPostgres({ host: second.host, port: second.port })).toBe('ready');
      expect(readFileSync(join(dataDir, 'marker'), 'utf8')).toBe('kept');
      await second.destroy();
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe('LocalRedis', () => {
  let redis: LocalRedis;

  beforeAll(async () => {
    redis = await LocalRedis.start();
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  it('answers PING at its url', async () => {
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await pingRedis(redis)).toBe(true);
  });

  it('does not answer while stopped or killed, and answers again on the same port after start()', async () => {
    const port = redis.port;
    await redis.stop();
    expect(redis.isRunning()).toBe(false);
    expect(await pingRedis(redis)).toBe(false);
    await redis.start();
    expect(redis.port).toBe(port);
    expect(await pingRedis(redis)).toBe(true);

    await redis.kill();
    expect(await pingRedis(redis)).toBe(false);
    await redis.restart();
    expect(await pingRedis(redis)).toBe(true);
  });

  it('destroy() removes its directory', async () => {
    const other = await LocalRedis.start();
    await other.destroy();
    expect(existsSync(other.dir)).toBe(false);
    expect(await pingRedis(other)).toBe(false);
  });
});

describe('LocalRedisCluster', () => {
  let cluster: LocalRedisCluster;

  beforeAll(async () => {
    cluster = await LocalRedisCluster.start({ masters: 3, replicasPerMaster: 1 });
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  it('forms a healthy cluster: three masters splitting every slot, each with a synced replica', async () => {
    expect(cluster.nodes).toHaveLength(6);
    expect(cluster.seeds.split(',')).toHaveLength(6);
    const view = await cluster.view();
    const masters = view.filter((v) => v.role === 'master').sort((a, b) => a.slots[0]![0] - b.slots[0]![0]);
    expect(masters.map((m) => m.slots)).toEqual([[[0, 5460]], [[5461, 10921]], [[10922, 16383]]]);
    for (const m of masters) expect(view.filter((v) => v.masterId === m.id)).toHaveLength(1);
    for (const node of cluster.nodes) {
      const info = await queryRedis({ host: node.host, port: node.port, args: ['CLUSTER', 'INFO'] });
      expect(String(info)).toContain('cluster_state:ok');
    }
    // A key goes where CLUSTER KEYSLOT says, and a node serving another slot redirects.
    const owner = await cluster.masterOf(12182); // the slot of "foo"
    expect(await queryRedis({ host: owner.host, port: owner.port, args: ['SET', 'foo', 'bar'] })).toBe('OK');
    const other = (await cluster.masters()).find((m) => m !== owner)!;
    const moved = await queryRedis({ host: other.host, port: other.port, args: ['GET', 'foo'] });
    expect(moved).toBeInstanceOf(RedisReplyError);
    expect((moved as RedisReplyError).message).toBe(`MOVED 12182 127.0.0.1:${owner.port}`);
  });

  it('fails a killed master over to its replica, and takes the old master back as a replica', async () => {
    const victim = await cluster.masterOf(0);
    const heir = await cluster.failOver(victim);
    expect(heir).not.toBe(victim);
    expect(await cluster.masterOf(0)).toBe(heir);
    expect(await cluster.masters()).toHaveLength(3);
    await victim.start();
    await cluster.waitUntilHealthy();
    const view = await cluster.view();
    expect(view.find((v) => v.port === victim.port)).toMatchObject({ role: 'replica' });
  });
});

describe('orphan protection', () => {
  it('kills servers and removes their directories when the owning process is SIGKILLed', async () => {
    const script = `
      require(${JSON.stringify(join(__dirname, 'ts-register.js'))});
      const { LocalPostgres, LocalRedis } = require(${JSON.stringify(join(__dirname, '../src/index.ts'))});
      Promise.all([LocalPostgres.start(), LocalRedis.start()]).then(([pg, redis]) => {
        console.log(JSON.stringify({ pgPort: pg.port, dataDir: pg.dataDir, redisPort: redis.port, redisDir: redis.dir }));
        setInterval(() => {}, 1000);
      });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString('utf8')));
      child.once('exit', (code) => reject(new Error(`child exited with ${code} before starting servers`)));
    });
    const started = JSON.parse(line) as {
      pgPort: number;
      dataDir: string;
      redisPort: number;
      redisDir: string;
    };
    expect(await pingPostgres({ host: '127.0.0.1', port: started.pgPort })).toBe('ready');

    child.kill('SIGKILL');

    const pgGone = async (): Promise<boolean> =>
      (await pingPostgres({ host: '127.0.0.1', port: started.pgPort })) === 'unreachable';
    expect(await until(pgGone, 10_000)).toBe(true);
    expect(
      await until(async () => !(await pingRedis({ host: '127.0.0.1', port: started.redisPort })), 10_000),
    ).toBe(true);
    expect(await until(() => pidsMentioning(started.dataDir).length === 0, 10_000)).toBe(true);
    expect(await until(() => !existsSync(started.dataDir) && !existsSync(started.redisDir), 10_000)).toBe(
      true,
    );
  });
});
