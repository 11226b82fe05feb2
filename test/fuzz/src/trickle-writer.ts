/**
 * The steady trickle of rows the control client must receive: one INSERT into `public.items` every
 * `intervalMs`, ids 1, 2, 3… on one connection, so that they commit in id order.
 *
 * Every row's `name` is a run of `a`s ending in `!`: the string on which backtracking like/match
 * patterns (`%%%…x`, `(.*)*x`) take exponential or high-polynomial time, so a fuzz channel with
 * such a filter meets a row that triggers it within one interval.
 */
import { Client } from 'pg';

export const TABLE_DDL = 'create table public.items (id int primary key, name text not null, n int not null)';

export const ROW_NAME = `${'a'.repeat(40)}!`;

export class TrickleWriter {
  /** Id of the last row whose INSERT completed (0 before the first). */
  committed = 0;
  private running = true;
  private readonly loop: Promise<void>;

  private constructor(
    private readonly client: Client,
    private readonly intervalMs: number,
  ) {
    this.loop = this.run();
  }

  static async start(url: string, intervalMs = 20): Promise<TrickleWriter> {
    const client = new Client({ connectionString: url });
    await client.connect();
    return new TrickleWriter(client, intervalMs);
  }

  /** Resolves once a row inserted after this call has committed; returns its id. */
  async nextCommit(timeoutMs = 5000): Promise<number> {
    const after = this.committed + 1;
    const deadline = Date.now() + timeoutMs;
    while (this.committed <= after) {
      if (!this.running || Date.now() > deadline) throw new Error('the writer committed nothing new');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return this.committed;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop.catch(() => undefined);
    await this.client.end().catch(() => undefined);
  }

  private async run(): Promise<void> {
    while (this.running) {
      const id = this.committed + 1;
      await this.client.query('insert into public.items (id, name, n) values ($1, $2, $3)', [
        id,
        ROW_NAME,
        id % 7,
      ]);
      this.committed = id;
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }
}
