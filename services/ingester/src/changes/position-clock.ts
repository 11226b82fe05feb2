/**
 * Hands out the position of each message a transaction publishes (its commit LSN and its index in
 * the transaction, @walcast/protocol position.ts), for changes and messages sent from SQL alike,
 * in WAL order. The same WAL always yields the same positions.
 */
import { positionOf, positionPrefix } from '@walcast/protocol';

export interface Stamp {
  /** The position's text, as clients see it. */
  position: string;
  /** The same position as a Redis stream entry id. */
  streamId: string;
}

export class PositionClock {
  private prefix = positionPrefix(0n);
  private lsnDecimal = '0';
  private index = 0;

  /** A transaction with this commit LSN starts. */
  begin(commitLsn: bigint): void {
    this.prefix = positionPrefix(commitLsn);
    this.lsnDecimal = commitLsn.toString();
    this.index = 0;
  }

  /** The next message's position in the current transaction. */
  next(): Stamp {
    const index = this.index++;
    return { position: positionOf(this.prefix, index), streamId: `${this.lsnDecimal}-${index}` };
  }
}
