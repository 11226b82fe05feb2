/**
 * The ingest benchmark's database side: the table, the two workload shapes and the replication
 * slots every consumer reads from. Every consumer sees the same WAL: its slot is moved to (or
 * created at) the current position after the table was emptied and before the workload is written.
 */
import { Client } from 'pg';
import { epochMs, sleep } from './util';

export const PUBLICATION = 'supabase_realtime';
/** pgoutput options as SQL function arguments (the SQL decoding baseline). */
export const PGOUTPUT_OPTS = `'proto_version','1','publication_names','${PUBLICATION}'`;

/** One INSERT … SELECT of all rows, or one transaction per row. */
export type Workload = 'one-tx' | 'many-tx';

/** When the workload ran, in epoch ms (comparable with other processes' clocks on this box). */
export interface WorkloadTimes {
  /** Just before the first statement. */
  startAt: number;
  /** When the last commit returned. */
  commitAt: number;
}

export async function query(url: string, text: string): Promise<Array<Record<string, unknown>>> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

const COLS = 'n, s, j, ts, b, num, arr, big';
const VALUES_G = `g, 'row ' || g, jsonb_build_object('k', g, 'tag', 'bench'), now(), g % 2 = 0, g / 7.0, array['a', g::text], g * 1000`;

/** Table `t`, the publication for it alone, and `insert_many` (one COMMIT per row). */
export async function setupSchema(url: string): Promise<void> {
  await query(
    url,
    `create table t (id bigserial primary key, n int, s text, j jsonb, ts timestamptz, b bool,
       num numeric(10,2), arr text[], big bigint, bin bytea);
     create table flushmark (id int);
     create publication ${PUBLICATION} for table t;
     create procedure insert_many(cnt int) language plpgsql as $$
     begin
       for g in 1..cnt loop
         insert into t (${COLS}) values (${VALUES_G});
         commit;
       end loop;
     end $$;`,
  );
}

/** Empties `t` (ids restart at 1, so every repetition writes the same rows). */
export async function emptyTable(url: string): Promise<void> {
  await query(url, `truncate t restart identity`);
}

/**
 * Moves existing slots (the ingesters') to the current WAL position, once no walsender holds them
 * (a stopped consumer's walsender may take a moment to exit). A CHECKPOINT first logs the running
 * transactions, so that the slot's restart point moves up too: otherwise the next consumer's
 * walsender decodes everything since the old restart point again (the previous repetitions'
 * workloads, seconds of work) before it reaches the new WAL, which a freshly created baseline
 * slot never does.
 */
export async function advanceSlots(url: string, slots: readonly string[]): Promise<void> {
  const names = slots.map((s) => `'${s}'`).join(', ');
  const deadline = epochMs() + 10_000;
  while (epochMs() < deadline) {
    const busy = await query(
      url,
      `select 1 from pg_replication_slots where active and slot_name in (${names})`,
    );
    if (busy.length === 0) break;
    await sleep(10);
  }
  // The restart point moves only to a logged snapshot with no transaction still running; a slot
  // can need a second snapshot (a transaction of its own advance, autovacuum).
  let behind: Array<Record<string, unknown>> = [];
  for (let attempt = 0; attempt < 5; attempt++) {
    await query(url, 'checkpoint');
    await query(
      url,
      `select pg_replication_slot_advance(slot_name, greatest(pg_current_wal_lsn(), confirmed_flush_lsn))
         from pg_replication_slots where slot_name in (${names})`,
    );
    behind = await query(
      url,
      `select slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint as bytes
         from pg_replication_slots where slot_name in (${names})
           and pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) > 1024 * 1024`,
    );
    if (behind.length === 0) return;
  }
  for (const row of behind)
    console.warn(`  note: slot ${String(row['slot_name'])} restarts ${String(row['bytes'])} bytes back`);
}

/** Drops the baseline slots (`b_*`) and creates the given ones afresh (pgoutput). */
export async function recreateBaselineSlots(url: string, slots: readonly string[]): Promise<void> {
  await dropBaselineSlots(url);
  if (slots.length === 0) return;
  await query(
    url,
    `select ${slots.map((s) => `pg_create_logical_replication_slot('${s}', 'pgoutput')`).join(', ')}`,
  );
}

export async function dropBaselineSlots(url: string): Promise<void> {
  // A baseline that just exited may still hold its slot for a moment (its walsender ends after it):
  // on a busy box dropping at once failed with "slot is active".
  for (let waited = 0; waited < 10_000; waited += 50) {
    const active = await query(
      url,
      `select 1 from pg_replication_slots where slot_name like 'b\\_%' and active`,
    );
    if (active.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await query(
    url,
    `select pg_drop_replication_slot(slot_name) from pg_replication_slots where slot_name like 'b\\_%'`,
  );
}

/**
 * Writes 200k rows as `workload` says. The single-row transactions commit with
 * `synchronous_commit=off`, then one synchronous commit to an unpublished table flushes all WAL, so
 * every consumer can read to the end.
 */
export async function writeWorkload(url: string, workload: Workload, rows: number): Promise<WorkloadTimes> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    if (workload === 'one-tx') {
      const startAt = epochMs();
      await c.query(`insert into t (${COLS}) select ${VALUES_G} from generate_series(1, ${rows}) g`);
      return { startAt, commitAt: epochMs() };
    }
    await c.query(`set synchronous_commit = off`);
    const startAt = epochMs();
    await c.query(`call insert_many(${rows})`);
    const commitAt = epochMs();
    await c.query(`set synchronous_commit = on`);
    await c.query(`insert into flushmark values (1)`);
    return { startAt, commitAt };
  } finally {
    await c.end();
  }
}

/**
 * What the SQL decoding baseline read from `slot`: the number of INSERT messages, the last LSN, and
 * the bytes `pg_recvlogical` writes for the same messages (each message and a newline).
 */
export async function decodeWithSql(
  url: string,
  slot: string,
): Promise<{ inserts: number; lastLsn: string; outputBytes: number }> {
  const [row] = await query(
    url,
    `select count(*) filter (where get_byte(data, 0) = 73) as inserts, max(lsn)::text as last,
            coalesce(sum(length(data) + 1), 0) as bytes
       from pg_logical_slot_get_binary_changes('${slot}', NULL, NULL, ${PGOUTPUT_OPTS})`,
  );
  return {
    inserts: Number(row?.['inserts']),
    lastLsn: String(row?.['last']),
    outputBytes: Number(row?.['bytes']),
  };
}

/**
 * What `pg_recvlogical` must write for what `slot` holds: at least `outputBytes` (a streaming
 * walsender may send a Relation message again after an invalidation, e.g. autovacuum's ANALYZE),
 * ending with `lastMessage` (the last COMMIT, unique by its LSNs) and a newline; and the number of
 * INSERT messages.
 */
export async function expectedRecvOutput(
  url: string,
  slot: string,
): Promise<{ inserts: number; outputBytes: number; lastMessage: Buffer }> {
  const [row] = await query(
    url,
    `with c as (select row_number() over () as n, data
                  from pg_logical_slot_get_binary_changes('${slot}', NULL, NULL, ${PGOUTPUT_OPTS}))
     select count(*) filter (where get_byte(data, 0) = 73) as inserts,
            coalesce(sum(length(data) + 1), 0) as bytes,
            (select data from c order by n desc limit 1) as last from c`,
  );
  return {
    inserts: Number(row?.['inserts']),
    outputBytes: Number(row?.['bytes']),
    lastMessage: Buffer.concat([row?.['last'] as Buffer, Buffer.from('\n')]),
  };
}
