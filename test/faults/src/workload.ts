/**
 * The workload: one connection inserting small transactions of consecutive ids into the scenario's
 * table, paced, for as long as it runs. Ids increase in commit order and are never reused: a
 * transaction that fails (PostgreSQL restarting) burns its ids, and whether it committed is left to
 * the database to say. The writer reconnects by itself after any error.
 */
import { Client } from 'pg';

/** Options for {@link Writer}. */
export interface WriterOptions {
  url: string;
  table: string;
  /** Rows per transaction. Default 10. */
  rowsPerTransaction?: number;
  /** Pause between transactions. Default 5 ms. */
  pauseMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class Writer {
  /** Transactions acknowledged by PostgreSQL. */
  acknowledged = 0;
  /** Transactions that failed (their rows may or may not be committed). */
  failed = 0;
  private nextId = 1;
  private stopped = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly opts: WriterOptions) {}

  /** Ids handed out so far (committed or not). */
  get idsUsed(): number {
    return this.nextId - 1;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops after the transaction in progress; resolves when the connection is closed. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    const rows = this.opts.rowsPerTransaction ?? 10;
    const statement = `insert into ${this.opts.table} (id) select generate_series($1::int, $2::int)`;
    let client: Client | null = null;
    while (!this.stopped) {
      try {
        if (client === null) {
          client = new Client({ connectionString: this.opts.url, application_name: 'walcast-faults-writer' });
          client.on('error', () => undefined); // the next query fails and reconnects
          await client.connect();
        }
        const from = this.nextId;
        this.nextId += rows;
        await client.query(statement, [from, from + rows - 1]);
        this.acknowledged++;
      } catch {
        this.failed++;
        await client?.end().catch(() => undefined);
        client = null;
        await sleep(100);
        continue;
      }
      await sleep(this.opts.pauseMs ?? 5);
    }
    await client?.end().catch(() => undefined);
  }
}
