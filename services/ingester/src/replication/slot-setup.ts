/**
 * Checks what logical replication needs before streaming, in order, each step saying how to fix
 * what is wrong: `wal_level`, the publication, then the slot (created when missing).
 *
 * Invariant I3: the slot is permanent, created once by name with pgoutput, and never dropped.
 */
import type { Client } from 'pg';
import { IngesterError } from '../errors';
import { lsnFromText, type Lsn } from './lsn';

export interface SlotState {
  /** Where streaming resumes: the slot's confirmed_flush_lsn (0 for a slot that has confirmed nothing). */
  confirmedLsn: Lsn;
  created: boolean;
}

export async function ensureWalLevel(db: Client): Promise<void> {
  const { rows } = await db.query<{ wal_level: string }>('show wal_level');
  const level = rows[0]?.wal_level;
  if (level !== 'logical') {
    throw new IngesterError(
      'WalLevelNotLogical',
      `wal_level is '${level}'; set wal_level = logical (ALTER SYSTEM SET wal_level = logical, or in postgresql.conf) and restart PostgreSQL`,
    );
  }
}

export async function ensurePublication(db: Client, publication: string): Promise<void> {
  const { rows } = await db.query('select 1 from pg_publication where pubname = $1', [publication]);
  if (rows.length === 0) {
    throw new IngesterError(
      'PublicationMissing',
      `publication "${publication}" does not exist; create it with: CREATE PUBLICATION "${publication}" FOR ALL TABLES; (or FOR TABLE … to publish only some tables), or set PUBLICATION to an existing one`,
    );
  }
}

interface SlotRow {
  plugin: string | null;
  database: string | null;
  active: boolean;
  active_pid: number | null;
  wal_status: string | null;
  confirmed_flush_lsn: string | null;
}

const SLOT_SQL = `select plugin, database, active, active_pid, wal_status, confirmed_flush_lsn::text
  from pg_replication_slots where slot_name = $1`;

export async function ensureSlot(db: Client, slot: string): Promise<SlotState> {
  let created = false;
  let row = (await db.query<SlotRow>(SLOT_SQL, [slot])).rows[0];
  if (!row) {
    try {
      await db.query(`select pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
      created = true;
    } catch (err) {
      // 42710 duplicate_object: another ingester created it between our two queries.
      if ((err as { code?: string }).code !== '42710') throw err;
    }
    row = (await db.query<SlotRow>(SLOT_SQL, [slot])).rows[0];
    if (!row)
      throw new IngesterError('ReplicationFailed', `slot "${slot}" vanished right after it was created`);
  }
  const { rows: dbRows } = await db.query<{ db: string }>('select current_database() as db');
  checkSlot(slot, row, dbRows[0]?.db ?? '');
  return { confirmedLsn: row.confirmed_flush_lsn ? lsnFromText(row.confirmed_flush_lsn) : 0n, created };
}

function checkSlot(slot: string, row: SlotRow, database: string): void {
  if (row.plugin !== 'pgoutput') {
    throw new IngesterError(
      'SlotWrongPlugin',
      `slot "${slot}" uses plugin ${row.plugin ?? '(physical)'}, not pgoutput; set SLOT_NAME to another name, or drop it with SELECT pg_drop_replication_slot('${slot}') if nothing else uses it`,
    );
  }
  if (row.database !== database) {
    throw new IngesterError(
      'SlotWrongDatabase',
      `slot "${slot}" belongs to database "${row.database}", not "${database}"; set SLOT_NAME or DB_NAME`,
    );
  }
  if (row.wal_status === 'lost') {
    throw new IngesterError(
      'SlotInvalidated',
      `slot "${slot}" was invalidated (its WAL was removed, max_slot_wal_keep_size): changes since its last confirmed position are gone. Recovery (docs/operations.md): drop it with SELECT pg_drop_replication_slot('${slot}'), restart the ingester to create it anew, and have clients refetch their data`,
    );
  }
  if (row.active) {
    throw new IngesterError(
      'SlotInUse',
      `slot "${slot}" is in use by another process (pid ${row.active_pid}); another ingester is streaming, retrying`,
    );
  }
}
