/**
 * Baseline for the ingest benchmark (a forked child): postgres.js `sql.subscribe`, which creates its
 * own temporary pgoutput slot at the current WAL position, decodes every row to JS values and calls
 * back once per row. Counts inserts on the publication's tables until ROWS have arrived.
 * Env: DATABASE_URL, PUBLICATION, ROWS. IPC out: {type:'ready'} once subscribed (slot created,
 * streaming), then {type:'done', at (epoch ms), rows, cpuS}.
 */
import postgres from 'postgres';
import { epochMs } from '../util';

const rows = Number(process.env['ROWS'] ?? '200000');
const sql = postgres(process.env['DATABASE_URL'] ?? '', {
  publications: process.env['PUBLICATION'] ?? 'supabase_realtime',
  onnotice: () => undefined,
});

let received = 0;
const cpu0 = process.cpuUsage();

function send(msg: Record<string, unknown>): void {
  process.send?.(msg);
}

sql
  .subscribe('insert', () => {
    if (++received === rows) {
      const cpu = process.cpuUsage(cpu0);
      send({ type: 'done', at: epochMs(), rows: received, cpuS: (cpu.user + cpu.system) / 1e6 });
    }
  })
  .then(
    () => send({ type: 'ready' }),
    (err: unknown) => send({ type: 'error', message: String(err) }),
  );
process.on('disconnect', () => process.exit(0));
