/**
 * The gateway's small PostgreSQL pool for row authorization: at most RLS_POOL_SIZE connections,
 * every statement bounded by RLS_CHECK_TIMEOUT (server side, and on the client in case the server
 * does not answer at all), named `walcast-gateway` in `pg_stat_activity`.
 */
import { Pool, type PoolConfig } from 'pg';
import type { Logger } from '@walcast/logger';
import type { RowAuthConfig } from '../config';
import type { ConnectionPool } from './queryable';

export function createRowAuthPool(
  config: Pick<RowAuthConfig, 'connection' | 'poolSize' | 'checkTimeoutMs'>,
  log: Logger,
): ConnectionPool {
  const pool = new Pool({
    ...(config.connection as PoolConfig),
    max: config.poolSize,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: config.checkTimeoutMs,
    statement_timeout: config.checkTimeoutMs,
    query_timeout: config.checkTimeoutMs + 1_000,
    application_name: 'walcast-gateway',
  });
  // An idle connection that breaks is dropped by the pool; the next checkout opens a new one.
  pool.on('error', (err) => log.debug({ err }, 'row authorization connection lost'));
  const values = (v: readonly unknown[] | undefined): unknown[] | undefined => (v ? [...v] : undefined);
  /** What each underlying connection has prepared, kept across checkouts. */
  const prepared = new WeakMap<object, Set<string>>();
  return {
    query: async <R>(text: string, v?: readonly unknown[]) =>
      (await pool.query(text, values(v))) as unknown as { rows: R[] },
    connect: async () => {
      const client = await pool.connect();
      let names = prepared.get(client);
      if (!names) {
        names = new Set();
        prepared.set(client, names);
      }
      return {
        prepared: names,
        query: async <R>(text: string, v?: readonly unknown[]) =>
          (await client.query(text, values(v))) as unknown as { rows: R[] },
        queryMany: async (text: string) => {
          const result = (await client.query(text)) as unknown;
          return (Array.isArray(result) ? result : [result]) as Array<{ rows: unknown[] }>;
        },
        release: (err?: Error) => client.release(err),
      };
    },
    end: () => pool.end(),
  };
}
