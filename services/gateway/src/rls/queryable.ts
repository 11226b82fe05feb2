/**
 * The part of a `pg` pool row authorization uses, so its modules take any pool (and tests a real
 * one) without importing `pg` themselves.
 */

export interface Queryable {
  query<R>(text: string, values?: readonly unknown[]): Promise<{ rows: R[] }>;
}

/** A pooled connection: one transaction at a time, released when done. */
export interface PooledConnection extends Queryable {
  /**
   * Several statements separated by `;` in one round trip (the simple query protocol: no
   * parameters, values must be quoted literals); one result per statement.
   */
  queryMany(text: string): Promise<Array<{ rows: unknown[] }>>;
  /** Names of the statements PREPAREd on this connection (it outlives the checkout). */
  readonly prepared: Set<string>;
  /** `err` set: the connection is broken and must not be reused. */
  release(err?: Error): void;
}

export interface ConnectionPool extends Queryable {
  connect(): Promise<PooledConnection>;
  end(): Promise<void>;
}
