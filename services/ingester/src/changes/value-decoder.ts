/**
 * Converts a column value from PostgreSQL's text output (pgoutput text mode) to JSON text, typed
 * as docs/protocol.md E4 describes: numbers, booleans, nested json/jsonb, arrays as JSON arrays,
 * timestamps as ISO-8601 strings, everything else as a JSON string of PostgreSQL's text.
 *
 * The result is a JSON fragment to splice into a document, so int8 and numeric keep exactly the
 * digits PostgreSQL printed. It assumes the walsender session settings the ingester sets:
 * `DateStyle=ISO, MDY`, `TimeZone=UTC`, `IntervalStyle=postgres`, `bytea_output=hex`,
 * `extra_float_digits=3`.
 *
 * Invariant: every result is valid JSON text. Text that does not have the shape its type promises
 * (which PostgreSQL never sends) becomes a JSON string of the raw text. The one input trusted
 * as is: json/jsonb text, which PostgreSQL validated when it was stored.
 *
 * This runs for every column of every row: it dispatches on the precomputed `PgTypeInfo.kind`
 * and scans characters instead of using regular expressions.
 */
import type { PgTypeInfo } from './pg-types';
import type { TypeRegistry } from './type-registry';

const TAB = 9;
const CR = 13;
const SPACE = 32;
const QUOTE = 34;
const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const ZERO = 48;
const NINE = 57;
const COLON = 58;
const UPPER_E = 69;
const LEFT_BRACKET = 91;
const BACKSLASH = 92;
const LOWER_E = 101;
const LOWER_X = 120;
const LEFT_BRACE = 123;
const RIGHT_BRACE = 125;

/**
 * The JSON text of one non-NULL column value of type `typeOid`, given PostgreSQL's text output.
 * Always valid JSON. Unknown type OIDs give a JSON string of the text.
 */
export function decodeValue(registry: TypeRegistry, typeOid: number, text: string): string {
  const info = registry.get(typeOid);
  return info === undefined ? JSON.stringify(text) : decodeAs(registry, info, text);
}

/** The type's `pg_type.typname` (`int4`, `_text`, a user type's name), or the OID as text if unknown. */
export function typeName(registry: TypeRegistry, oid: number): string {
  return registry.get(oid)?.name ?? String(oid);
}

function decodeAs(registry: TypeRegistry, info: PgTypeInfo, text: string): string {
  switch (info.kind) {
    case 'text':
      return JSON.stringify(text);
    case 'number':
      return numberJson(text);
    case 'bool':
      return text === 't' ? 'true' : text === 'f' ? 'false' : JSON.stringify(text);
    case 'json':
      return text;
    case 'timestamp':
      return timestampJson(text);
    case 'timestamptz':
      return timestamptzJson(text);
    case 'bytea':
      return byteaJson(text);
    case 'array':
      return arrayJson(registry, info, text);
    case 'vector':
      return vectorJson(registry, info, text);
  }
}

function numberJson(text: string): string {
  if (isJsonNumber(text)) return text;
  if (text === 'NaN' || text === 'Infinity' || text === '-Infinity') return 'null';
  return JSON.stringify(text);
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/** Whether `s` matches JSON's number grammar: `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`. */
function isJsonNumber(s: string): boolean {
  const n = s.length;
  let i = s.charCodeAt(0) === MINUS ? 1 : 0;
  const first = s.charCodeAt(i);
  if (first === ZERO) i++;
  else if (first > ZERO && first <= NINE) i = skipDigits(s, i + 1);
  else return false;
  if (i < n && s.charCodeAt(i) === DOT) {
    const start = i + 1;
    i = skipDigits(s, start);
    if (i === start) return false;
  }
  if (i < n) {
    const e = s.charCodeAt(i);
    if (e !== LOWER_E && e !== UPPER_E) return false;
    i++;
    const sign = s.charCodeAt(i);
    if (sign === PLUS || sign === MINUS) i++;
    const start = i;
    i = skipDigits(s, start);
    if (i === start) return false;
  }
  return i === n;
}

function skipDigits(s: string, from: number): number {
  let i = from;
  while (isDigit(s.charCodeAt(i))) i++;
  return i;
}

/**
 * `2021-01-01 12:00:00.123456` → `"2021-01-01T12:00:00.123456"`. As in `to_jsonb`, a BC suffix is
 * kept (`"0044-03-15T12:00:00 BC"`) and `infinity`/`-infinity` stay as printed.
 */
function timestampJson(text: string): string {
  const space = text.indexOf(' ');
  if (space < 0 || !isDigit(text.charCodeAt(0))) return JSON.stringify(text);
  return JSON.stringify(`${text.slice(0, space)}T${text.slice(space + 1)}`);
}

/**
 * `2021-01-01 12:00:00+00` → `"2021-01-01T12:00:00+00:00"`; `+05:30` and `+01:02:03` offsets are
 * kept. As in `to_jsonb`, a BC suffix follows the offset and `infinity`/`-infinity` stay as printed.
 */
function timestamptzJson(text: string): string {
  // The walsender session runs with TimeZone=UTC: `2021-01-01 12:00:00[.ffffff]+00`.
  if (text.charCodeAt(10) === SPACE && text.endsWith('+00') && isPlainUtcTimestamp(text)) {
    return `"${text.slice(0, 10)}T${text.slice(11)}:00"`;
  }
  const space = text.indexOf(' ');
  if (space < 0 || !isDigit(text.charCodeAt(0))) return JSON.stringify(text);
  const isBc = text.endsWith(' BC');
  const end = isBc ? text.length - 3 : text.length;
  const sign = Math.max(text.lastIndexOf('+', end), text.lastIndexOf('-', end));
  if (sign < space) return JSON.stringify(text);
  const hoursOnly = end - sign === 3;
  const iso = `${text.slice(0, space)}T${text.slice(space + 1, end)}${hoursOnly ? ':00' : ''}`;
  return JSON.stringify(isBc ? `${iso} BC` : iso);
}

/** Only digits, `-`, `:`, `.` and the space before `+00`: nothing JSON would escape. */
function isPlainUtcTimestamp(text: string): boolean {
  for (let i = text.length - 4; i >= 0; i--) {
    const c = text.charCodeAt(i);
    if (!isDigit(c) && c !== MINUS && c !== COLON && c !== DOT && c !== SPACE) return false;
  }
  return true;
}

/** `\x0102ff` → `"0102ff"`; the escape format (no `\x`) stays as printed. */
function byteaJson(text: string): string {
  const isHex = text.charCodeAt(0) === BACKSLASH && text.charCodeAt(1) === LOWER_X;
  return JSON.stringify(isHex ? text.slice(2) : text);
}

/** int2vector/oidvector: `1 2 3` → `[1,2,3]`. */
function vectorJson(registry: TypeRegistry, info: PgTypeInfo, text: string): string {
  if (text === '') return '[]';
  const element = info.elementOid === undefined ? undefined : registry.get(info.elementOid);
  const parts = text.split(' ');
  let out = '[';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (i > 0) out += ',';
    out += element === undefined ? JSON.stringify(part) : decodeAs(registry, element, part);
  }
  return `${out}]`;
}

/**
 * An array literal as `array_out` prints it (`{1,NULL,"a b"}`, `{{1,2},{3,4}}`, with an optional
 * `[0:1]=` bounds prefix, which is dropped) → a JSON array of converted elements. A literal that
 * does not parse becomes a JSON string of the text.
 */
function arrayJson(registry: TypeRegistry, info: PgTypeInfo, text: string): string {
  let start = 0;
  if (text.charCodeAt(0) === LEFT_BRACKET) {
    start = text.indexOf('=') + 1;
    if (start === 0) return JSON.stringify(text);
  }
  const element = info.elementOid === undefined ? undefined : registry.get(info.elementOid);
  const delimiter = info.delimiter === undefined ? 44 /* , */ : info.delimiter.charCodeAt(0);
  const parser = new ArrayLiteralParser(registry, element, delimiter, text, start);
  return parser.parseAll() ?? JSON.stringify(text);
}

/** `array_isspace`: space, `\t`, `\n`, `\v`, `\f`, `\r`. */
function isSpace(c: number): boolean {
  return c === SPACE || (c >= TAB && c <= CR);
}

/**
 * A recursive-descent parser for PostgreSQL's array literal syntax (the rules of `array_in`):
 * elements are quoted (`"…"`, with `\` escaping any character) or unquoted (backslash escapes
 * allowed, surrounding whitespace ignored, `NULL` in any case meaning SQL NULL).
 * Each method returns `undefined` on malformed input.
 */
class ArrayLiteralParser {
  private pos: number;

  constructor(
    private readonly registry: TypeRegistry,
    private readonly element: PgTypeInfo | undefined,
    private readonly delimiter: number,
    private readonly text: string,
    start: number,
  ) {
    this.pos = start;
  }

  parseAll(): string | undefined {
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) !== LEFT_BRACE) return undefined;
    const out = this.parseArray();
    this.skipSpace();
    return this.pos === this.text.length ? out : undefined;
  }

  /** At `{`: the JSON array up to and including the matching `}`. */
  private parseArray(): string | undefined {
    const text = this.text;
    this.pos++;
    this.skipSpace();
    if (text.charCodeAt(this.pos) === RIGHT_BRACE) {
      this.pos++;
      return '[]';
    }
    let out = '[';
    for (;;) {
      this.skipSpace();
      const c = text.charCodeAt(this.pos);
      const item =
        c === LEFT_BRACE ? this.parseArray() : c === QUOTE ? this.parseQuoted() : this.parseUnquoted();
      if (item === undefined) return undefined;
      out += item;
      this.skipSpace();
      const next = text.charCodeAt(this.pos++);
      if (next === this.delimiter) out += ',';
      else if (next === RIGHT_BRACE) return `${out}]`;
      else return undefined;
    }
  }

  /** At `"`: the converted element up to and including the closing quote. */
  private parseQuoted(): string | undefined {
    const text = this.text;
    let value = '';
    let chunkStart = ++this.pos;
    for (let i = chunkStart; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === BACKSLASH) {
        value += text.slice(chunkStart, i);
        chunkStart = ++i; // the escaped character starts the next chunk
      } else if (c === QUOTE) {
        this.pos = i + 1;
        return this.convert(value + text.slice(chunkStart, i));
      }
    }
    return undefined;
  }

  /** An unquoted element, up to the delimiter or `}`; `NULL` (any case, unescaped) is SQL NULL. */
  private parseUnquoted(): string | undefined {
    const text = this.text;
    let value = '';
    let chunkStart = this.pos;
    let end = this.pos; // end of the value in `text` once trailing whitespace is dropped
    let hasEscape = false;
    let i = this.pos;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === this.delimiter || c === RIGHT_BRACE) break;
      if (c === LEFT_BRACE || c === QUOTE) return undefined;
      if (c === BACKSLASH) {
        if (i + 1 >= text.length) return undefined;
        value += text.slice(chunkStart, i);
        chunkStart = ++i;
        hasEscape = true;
        end = i + 1;
      } else if (!isSpace(c)) {
        end = i + 1;
      }
    }
    if (i >= text.length) return undefined;
    this.pos = i;
    value += text.slice(chunkStart, Math.max(chunkStart, end));
    if (value === '' && !hasEscape) return undefined;
    if (!hasEscape && value.length === 4 && value.toUpperCase() === 'NULL') return 'null';
    return this.convert(value);
  }

  private convert(value: string): string {
    return this.element === undefined ? JSON.stringify(value) : decodeAs(this.registry, this.element, value);
  }

  private skipSpace(): void {
    while (isSpace(this.text.charCodeAt(this.pos))) this.pos++;
  }
}
