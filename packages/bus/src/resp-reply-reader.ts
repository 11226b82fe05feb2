/**
 * Splits the reply stream of a RESP2 connection into replies: the publisher only needs to know
 * where each reply ends and whether it is an error. A reply is one line (`:n`, `+OK`, `-ERR …`), a
 * bulk string (`$n` and its n bytes, or `$-1`) or an array of replies (`*n` then n of them, arrays
 * included; `*-1`, `*0`): EXEC answers a transaction with one array, whose elements may be errors
 * of their own (a command that failed alone). Keeps its state across reads (a reply may span
 * several). Pure; imports nothing.
 */

const LF = 0x0a;
const CR = 0x0d;
const MINUS = 0x2d;
const DOLLAR = 0x24;
const STAR = 0x2a;
/** An error line is kept up to this many bytes. */
const MAX_ERROR_BYTES = 512;
/** An array reply keeps the texts of up to this many of its elements' errors. */
const MAX_ELEMENT_ERRORS = 16;
const NO_ERRORS: readonly string[] = [];

/**
 * Called once per whole reply: `error` is the reply's error text (null unless the reply itself is
 * an error line); `elementErrors`, for an array, the texts of the errors among its elements (at
 * most {@link MAX_ELEMENT_ERRORS}), empty otherwise. Returns false to stop reading.
 */
export type OnReply = (error: string | null, elementErrors: readonly string[]) => boolean;

export class RespReplyReader {
  /** At the start of a line, and the error text of the current line. */
  private atLineStart = true;
  private errorLine: number[] | null = null;
  /** The digits of a bulk reply's length while its first line is read, then the bytes to skip. */
  private bulkDigits: string | null = null;
  private bulkSkip = 0;
  /** The digits of an array's length while its first line is read. */
  private arrayDigits: string | null = null;
  /** Elements still to come of each array being read, the outermost first. */
  private readonly open: number[] = [];
  private elementErrors: string[] = [];

  /** Forgets a partly read reply (a new connection). */
  reset(): void {
    this.atLineStart = true;
    this.errorLine = null;
    this.bulkDigits = null;
    this.bulkSkip = 0;
    this.arrayDigits = null;
    this.open.length = 0;
    this.elementErrors = [];
  }

  /**
   * Calls `onReply` for each reply that ends in `data`, in order; stops when `onReply` returns
   * false (the rest of `data` is then not read).
   */
  read(data: Buffer, onReply: OnReply): void {
    for (let i = 0; i < data.length; i++) {
      if (this.bulkSkip > 0) {
        // A bulk reply's payload and its CRLF: skipped; the reply ends with them.
        const take = Math.min(this.bulkSkip, data.length - i);
        this.bulkSkip -= take;
        i += take - 1;
        if (this.bulkSkip === 0 && !this.ended(null, onReply)) return;
        continue;
      }
      const c = data[i]!;
      if (this.atLineStart) {
        this.atLineStart = false;
        if (c === MINUS) this.errorLine = [];
        else if (c === DOLLAR) this.bulkDigits = '';
        else if (c === STAR) this.arrayDigits = '';
      } else if (c === LF) {
        this.atLineStart = true;
        const bulk = this.bulkDigits;
        const array = this.arrayDigits;
        this.bulkDigits = null;
        this.arrayDigits = null;
        const length = bulk === null ? -1 : Number(bulk);
        const elements = array === null ? -1 : Number(array);
        if (length >= 0) {
          this.bulkSkip = length + 2;
        } else if (elements > 0) {
          this.open.push(elements);
        } else {
          const error = this.errorLine ? Buffer.from(this.errorLine).toString() : null;
          this.errorLine = null;
          if (!this.ended(error, onReply)) return;
        }
      } else if (this.bulkDigits !== null && c !== CR) {
        this.bulkDigits += String.fromCharCode(c);
      } else if (this.arrayDigits !== null && c !== CR) {
        this.arrayDigits += String.fromCharCode(c);
      } else if (this.errorLine && c !== CR && this.errorLine.length < MAX_ERROR_BYTES) {
        this.errorLine.push(c);
      }
    }
  }

  /** A value ended: a whole reply, or an element of the arrays open (which may end with it). */
  private ended(error: string | null, onReply: OnReply): boolean {
    const open = this.open;
    if (open.length === 0) return onReply(error, NO_ERRORS);
    if (error !== null && this.elementErrors.length < MAX_ELEMENT_ERRORS) this.elementErrors.push(error);
    for (;;) {
      const left = open[open.length - 1]! - 1;
      if (left > 0) {
        open[open.length - 1] = left;
        return true;
      }
      open.pop();
      if (open.length === 0) break;
    }
    const errors = this.elementErrors.length > 0 ? this.elementErrors : NO_ERRORS;
    this.elementErrors = [];
    return onReply(null, errors);
  }
}
