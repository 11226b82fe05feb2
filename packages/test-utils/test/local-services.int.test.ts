import { connect } from 'node:net';

import Redis from 'ioredis';
import { Client } from 'pg';

import { LocalPostgres, LocalRedis } from '@walcast/local-services';

// SQL- and RESP-level checks of @walcast/local-services. They live here because pg and ioredis are
// dependencies of this package, not of local-services (which must stay dependency-free).

async function query<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('LocalPostgres with a driver', () => {
  let pg: LocalPostgres;

  beforeAll(async () => {
    pg = await LocalPostgres.start({ settings: { max_slot_wal_keep_size: '64MB' } });
  });
  afterAll(async () => {
    await pg?.destroy();
  });

  it('runs with logical replication and the requested settings', async () => {
    const rows = await query<{ name: string; setting: string }>(
      pg.url,
      `SELECT name, setting FROM pg_settings
        WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders', 'fsync', 'max_slot_wal_keep_size')
        ORDER BY name`,
    );
    expect(Object.fromEntries(rows.map((r) => [r.name, r.setting]))).toEqual({
      fsync: 'off',
      max_replication_slots: '32',
      max_slot_wal_keep_size: '64',
      max_wal_senders: '32',
      wal_level: 'logical',
    });
  });

  it('keeps committed rows across kill() and start() (crash recovery)', async () => {
    await query(pg.url, 'CREATE TABLE survivors (id int PRIMARY KEY, note text)');
    await query(pg.url, "INSERT INTO survivors VALUES (1, 'before crash')");
    await pg.kill();
    await expect(query(pg.url, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    await pg.start();
    expect(await query(pg.url, 'SELECT id, note FROM survivors')).toEqual([{ id: 1, note: 'before crash' }]);
  });

  it('keeps rows across stop(immediate) and across stop(fast)', async () => {
    await query(pg.url, "INSERT INTO survivors VALUES (2, 'before immediate')");
    await pg.stop('immediate');
    await pg.start();
    await query(pg.url, "INSERT INTO survivors VALUES (3, 'before fast')");
    await pg.restart('fast');
    expect(await query<{ id: number }>(pg.url, 'SELECT id FROM survivors ORDER BY id')).toEqual([
      { id: 1 },
      { id: 2 },
      { id: 3 },
    ]);
  });

  it('can create a logical replication slot with pgoutput', async () => {
    const [slot] = await query<{ slot_name: string }>(
      pg.url,
      "SELECT slot_name FROM pg_create_logical_replication_slot('ls_test_slot', 'pgoutput')",
    );
    expect(slot?.slot_name).toBe('ls_test_slot');
    await query(pg.url, "SELECT pg_drop_replication_slot('ls_test_slot')");
  });

  it('stop(fast) disconnects clients instead of waiting for them', async () => {
    const client = new Client({ connectionString: pg.url });
    client.on('error', () => {
      // the server terminates this session on purpose
    });
    await client.connect();
    const started = Date.now();
    await pg.stop('fast');
    expect(Date.now() - started).toBeLessThan(5000);
    await expect(client.query('SELECT 1')).rejects.toThrow();
    await pg.start();
    expect(await query(pg.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});

describe('LocalRedis with a driver', () => {
  let redis: LocalRedis;

  beforeAll(async () => {
    redis = await LocalRedis.start();
  });
  afterAll(async () => {
    await redis?.destroy();
  });

  async function ping(): Promise<string> {
    const client = new Redis(redis.url);
    try {
      return await client.ping();
    } finally {
      client.disconnect();
    }
  }

  /** Resolves with the connect error code; ioredis would keep retrying (and a timer) instead. */
  function connectError(): Promise<string | undefined> {
    return new Promise((resolve) => {
      const socket = connect({ host: redis.host, port: redis.port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
    });
  }

  it('answers PING, refuses connections while stopped, answers again after start() on the same url', async () => {
    expect(await ping()).toBe('PONG');
    await redis.stop();
    expect(await connectError()).toBe('ECONNREFUSED');
    await redis.start();
    expect(await ping()).toBe('PONG');
  });

  it('comes back empty after kill() (no persistence)', async () => {
    const client = new Redis(redis.url);
    await client.set('k', 'v');
    expect(await client.get('k')).toBe('v');
    client.disconnect();
    await redis.kill();
    await redis.start();
    const again = new Redis(redis.url);
    expect(await again.get('k')).toBeNull();
    again.disconnect();
  });
});
