/**
 * Splits the reply stream of a RESP2 connection into replies, for a connection whose commands are
 * all answered with one line (`:n`, `+OK`, `-ERR …`) or one bulk string (`$n` and its n bytes, or
 * `$-1`), never an array: the publisher only needs to know where each reply ends and whether it
 * is an error. Keeps its state across reads (a reply may span several). Pure; imports nothing.
 */

const LF = 0x0a;
const CR = 0x0d;
const MINUS = 0x2d;
const DOLLAR = 0x24;
/** An error line is kept up to this many bytes. */
const MAX_ERROR_BYTES = 512;

export class RespReplyReader {
  /** At the start of a line, and the error text of the current line. */
  private atLineStart = true;
  private errorLine: number[] | null = null;
  /** The digits of a bulk reply's length while its first line is read, then the bytes to skip. */
  private bulkDigits: string | null = null;
  private bulkSkip = 0;

  /** Forgets a partly read reply (a new connection). */
  reset(): void {
    this.atLineStart = true;
    this.errorLine = null;
    this.bulkDigits = null;
    this.bulkSkip = 0;
  }

  /**
   * Calls `onReply` for each reply that ends in `data`, in order, with the error's text or `null`;
   * stops when `onReply` returns false (the rest of `data` is then not read).
   */
  read(data: Buffer, onReply: (error: string | null) => boolean): void {
    for (let i = 0; i < data.length; i++) {
      if (this.bulkSkip > 0) {
        // A bulk reply's payload and its CRLF: skipped; the reply ends with them.
        const take = Math.min(this.bulkSkip, data.length - i);
        this.bulkSkip -= take;
        i += take - 1;
        if (this.bulkSkip === 0 && !onReply(null)) return;
        continue;
      }
      const c = data[i]!;
      if (this.atLineStart) {
        this.atLineStart = false;
        if (c === MINUS) this.errorLine = [];
        else if (c === DOLLAR) this.bulkDigits = '';
      } else if (c === LF) {
        this.atLineStart = true;
        const bulk = this.bulkDigits;
        this.bulkDigits = null;
        const length = bulk === null ? -1 : Number(bulk);
        if (length >= 0) {
          this.bulkSkip = length + 2;
        } else {
          const error = this.errorLine ? Buffer.from(this.errorLine).toString() : null;
          this.errorLine = null;
          if (!onReply(error)) return;
        }
      } else if (this.bulkDigits !== null && c !== CR) {
        this.bulkDigits += String.fromCharCode(c);
      } else if (this.errorLine && c !== CR && this.errorLine.length < MAX_ERROR_BYTES) {
        this.errorLine.push(c);
      }
    }
  }
}
