/**
 * RESP encoding for the publishing hot path: a growable byte buffer of bulk strings, written
 * straight from JavaScript strings without intermediate argument arrays or one large joined string
 * (building the history script's arguments that way cost the ingester as much CPU as the rest of
 * publishing together). Pure; imports nothing.
 */

const CR = 0x0d;
const LF = 0x0a;
const INITIAL_BYTES = 64 * 1024;

/** Bulk strings (`$<length>\r\n<bytes>\r\n`) appended one after another, and how many. */
export class RespBuffer {
  private buf: Buffer;
  private used = 0;
  /** Bulk strings appended since the last {@link clear}. */
  count = 0;

  constructor(initialBytes = INITIAL_BYTES) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Bytes appended since the last {@link clear}. */
  get length(): number {
    return this.used;
  }

  /** Appends `text` (UTF-8) as one bulk string. */
  bulk(text: string): void {
    const length = Buffer.byteLength(text);
    this.reserve(length + 24);
    this.buf[this.used++] = 0x24; // $
    this.used += this.buf.write(String(length), this.used, 'latin1');
    this.buf[this.used++] = CR;
    this.buf[this.used++] = LF;
    this.used += this.buf.write(text, this.used, length);
    this.buf[this.used++] = CR;
    this.buf[this.used++] = LF;
    this.count++;
  }

  /** Appends bulk strings already encoded (`count` of them, e.g. from {@link encodeBulk}). */
  encoded(bytes: Buffer, count: number): void {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.used); // Buffer#copy checks its arguments in JavaScript: slower for a few bytes
    this.used += bytes.length;
    this.count += count;
  }

  /** Appends the header of a command of `args` bulk strings (`*<args>`; not counted). */
  command(args: number): void {
    this.reserve(24);
    this.buf[this.used++] = 0x2a; // *
    this.used += this.buf.write(String(args), this.used, 'latin1');
    this.buf[this.used++] = CR;
    this.buf[this.used++] = LF;
  }

  /** The bytes appended; valid until the next append or {@link clear}. */
  view(): Buffer {
    return this.buf.subarray(0, this.used);
  }

  /** Empties the buffer, keeping its memory. */
  clear(): void {
    this.used = 0;
    this.count = 0;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + bytes));
    this.buf.copy(grown, 0, 0, this.used);
    this.buf = grown;
  }
}

/** One bulk string, encoded. */
export function encodeBulk(text: string): Buffer {
  return Buffer.from(`$${Buffer.byteLength(text)}\r\n${text}\r\n`);
}

/** One command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly string[]): string {
  let text = `*${args.length}\r\n`;
  for (const a of args) text += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return text;
}
