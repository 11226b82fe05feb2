/**
 * Applies the `realtime` schema's migrations (migrations.ts) at start-up, or, with
 * MANAGE_SCHEMA=false, only checks that the objects exist. Runs on the ingester's catalog
 * connection before the stream starts, so a ready ingester has its schema.
 *
 * Invariants:
 * - Each migration runs in its own transaction under a transaction-level advisory lock, and the
 *   applied versions are read after the lock is taken: ingesters starting together apply each
 *   version once; the later ones find it applied.
 * - A migration's row records the WAL insert position when it began (`started_lsn`). The
 *   messages publication is streamed only from the position of the migration that added
 *   `realtime.messages` to it ({@link SchemaState.messagesFromLsn}); before that point no message
 *   row can exist, and pgoutput (before PostgreSQL 18) fails on changes decoded under a catalog
 *   that has no such publication.
 */
import type { Client } from 'pg';
import { IngesterError } from '../errors';
import { lsnFromText, type Lsn } from '../replication/lsn';
import {
  GRANTS_SQL,
  MESSAGES_PUBLICATION,
  MIGRATIONS,
  MIGRATIONS_TABLE,
  REQUIRED_OBJECTS,
  type Migration,
} from './migrations';

/** Any constant works; it only has to be the same for every ingester. */
const LOCK_KEY = `hashtext('walcast:realtime-schema')`;

/** The version whose migration adds realtime.messages to the messages publication. */
const MESSAGES_PUBLISHED_VERSION = 2;

const MIGRATIONS_TABLE_SQL = `create table if not exists ${MIGRATIONS_TABLE} (
  version integer primary key,
  name text not null,
  applied_at timestamptz not null default now(),
  started_lsn pg_lsn not null
)`;

export interface SchemaState {
  /** Versions applied by this call, in order (empty when the schema was up to date or unmanaged). */
  applied: number[];
  /** Whether the messages publication exists: it is then added to the stream's publication_names. */
  messagesPublication: boolean;
  /**
   * The messages publication may be streamed only once the slot has confirmed this position
   * (0: at once). See the module comment.
   */
  messagesFromLsn: Lsn;
  /** Whether realtime.messages exists (retention runs only then). */
  messagesTable: boolean;
  /** Objects that are missing (MANAGE_SCHEMA=false only). */
  missing: string[];
}

/** Creates or upgrades the schema; idempotent. `upTo` stops at a version (tests of upgrades). */
export async function migrateSchema(db: Client, opts: { upTo?: number } = {}): Promise<SchemaState> {
  const applied: number[] = [];
  for (const migration of MIGRATIONS) {
    if (opts.upTo !== undefined && migration.version > opts.upTo) break;
    if (await applyOne(db, migration)) applied.push(migration.version);
  }
  await inTransaction(db, async () => {
    await db.query(`select pg_advisory_xact_lock(${LOCK_KEY})`);
    if ((await db.query(`select to_regclass('realtime.messages') is not null as ok`)).rows[0]?.ok) {
      await db.query(GRANTS_SQL);
    }
  });
  return { ...(await readSchemaState(db)), applied, missing: [] };
}

/** MANAGE_SCHEMA=false: reads what exists and lists what is missing; changes nothing. */
export async function checkSchema(db: Client): Promise<SchemaState> {
  const checks = REQUIRED_OBJECTS.map((o, i) => `${o.check} as c${i}`).join(', ');
  const row = (await db.query<Record<string, boolean>>(`select ${checks}`)).rows[0] ?? {};
  const missing = REQUIRED_OBJECTS.filter((_, i) => row[`c${i}`] !== true).map((o) => `${o.kind} ${o.name}`);
  return { ...(await readSchemaState(db)), applied: [], missing };
}

async function applyOne(db: Client, migration: Migration): Promise<boolean> {
  return inTransaction(db, async () => {
    await db.query(`select pg_advisory_xact_lock(${LOCK_KEY})`);
    await db.query('create schema if not exists realtime');
    await db.query(MIGRATIONS_TABLE_SQL);
    const done = await db.query(`select 1 from ${MIGRATIONS_TABLE} where version = $1`, [migration.version]);
    if (done.rows.length > 0) return false;
    // Recorded before the migration's own changes: every transaction before this one has committed.
    await db.query(
      `insert into ${MIGRATIONS_TABLE} (version, name, started_lsn) values ($1, $2, pg_current_wal_insert_lsn())`,
      [migration.version, migration.name],
    );
    try {
      await db.query(migration.sql);
    } catch (err) {
      throw new IngesterError(
        'SchemaMigrationFailed',
        `migration ${migration.version} (${migration.name}) of the realtime schema failed: ${(err as Error).message}; ` +
          'fix the cause (the user needs CREATE on the database, or set MANAGE_SCHEMA=false and create the ' +
          'objects of docs/realtime-schema.md yourself)',
        { cause: err },
      );
    }
    return true;
  });
}

async function readSchemaState(db: Client): Promise<Omit<SchemaState, 'applied' | 'missing'>> {
  const { rows } = await db.query<{ publication: boolean; table: boolean; migrations: boolean }>(
    `select exists (select 1 from pg_publication where pubname = $1) as publication,
            to_regclass('realtime.messages') is not null as table,
            to_regclass('${MIGRATIONS_TABLE}') is not null as migrations`,
    [MESSAGES_PUBLICATION],
  );
  const row = rows[0];
  let messagesFromLsn: Lsn = 0n;
  if (row?.migrations) {
    const lsn = await db.query<{ lsn: string }>(
      `select started_lsn::text as lsn from ${MIGRATIONS_TABLE} where version = $1`,
      [MESSAGES_PUBLISHED_VERSION],
    );
    if (lsn.rows[0]) messagesFromLsn = lsnFromText(lsn.rows[0].lsn);
  }
  return {
    messagesPublication: row?.publication === true,
    messagesTable: row?.table === true,
    messagesFromLsn,
  };
}

async function inTransaction<T>(db: Client, work: () => Promise<T>): Promise<T> {
  await db.query('begin');
  try {
    const result = await work();
    await db.query('commit');
    return result;
  } catch (err) {
    await db.query('rollback').catch(() => undefined);
    throw err;
  }
}
