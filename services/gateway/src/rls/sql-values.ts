/**
 * PostgreSQL's value semantics that compiled policies need, reproduced exactly: `uuid_in` and
 * `boolin` input rules, how `->>` prints a JSON value from a `json` and from a `jsonb` (numbers,
 * nested objects with jsonb's key order and spacing), and which JSON texts PostgreSQL refuses to
 * parse (a `\u0000` escape or an unpaired surrogate anywhere in the document).
 *
 * Each function either returns the value PostgreSQL would compute or throws {@link SqlError}
 * where PostgreSQL raises.
 */

/** Raised where the SQL statement would raise; its message is the (abridged) PostgreSQL error. */
export class SqlError extends Error {}

const HEX = /^[0-9a-fA-F]$/;
/** The form uuid_out prints (in either case), which uuid_in reads without the general scan. */
const CANONICAL_UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * `uuid_in`: 32 hex digits, optionally in `{…}`, with a `-` allowed after any group of four
 * digits but the last; no whitespace. Returns the canonical lower-case hex digits (no hyphens).
 */
export function uuidIn(text: string): string {
  if (CANONICAL_UUID.test(text)) return text.replace(/-/g, '').toLowerCase();
  let i = 0;
  let braces = false;
  if (text[0] === '{') {
    braces = true;
    i++;
  }
  let out = '';
  for (let byte = 0; byte < 16; byte++) {
    const a = text[i];
    const b = text[i + 1];
    if (a === undefined || b === undefined || !HEX.test(a) || !HEX.test(b)) throw invalidUuid(text);
    out += a + b;
    i += 2;
    if (text[i] === '-' && byte % 2 === 1 && byte < 15) i++;
  }
  if (braces) {
    if (text[i] !== '}') throw invalidUuid(text);
    i++;
  }
  if (i !== text.length) throw invalidUuid(text);
  return out.toLowerCase();
}

function invalidUuid(text: string): SqlError {
  return new SqlError(`invalid input syntax for type uuid: ${JSON.stringify(text.slice(0, 64))}`);
}

/** `uuid_out` of canonical hex digits: `8-4-4-4-12`, lower case. */
export function uuidOut(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `isspace` in the C locale, which `boolin` uses to trim. */
function isCSpace(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r';
}

/**
 * `boolin`: surrounding whitespace trimmed, then case-insensitively `t`/`true`, `y`/`yes`, `on`,
 * `1` and `f`/`false`, `n`/`no`, `off`, `0`, where any prefix of a word names it if it is not `o`.
 */
export function boolIn(text: string): boolean {
  let start = 0;
  let end = text.length;
  while (start < end && isCSpace(text[start]!)) start++;
  while (end > start && isCSpace(text[end - 1]!)) end--;
  const word = text.slice(start, end).toLowerCase();
  const isPrefixOf = (full: string, min: number): boolean => word.length >= min && full.startsWith(word);
  if (isPrefixOf('true', 1) || isPrefixOf('yes', 1) || isPrefixOf('on', 2) || word === '1') return true;
  if (isPrefixOf('false', 1) || isPrefixOf('no', 1) || isPrefixOf('off', 2) || word === '0') return false;
  throw new SqlError(`invalid input syntax for type boolean: ${JSON.stringify(text.slice(0, 64))}`);
}

const INT_RANGES = {
  int2: [-32768n, 32767n, 'smallint'],
  int4: [-2147483648n, 2147483647n, 'integer'],
  int8: [-9223372036854775808n, 9223372036854775807n, 'bigint'],
} as const;

/** The range of an integer type and the name PostgreSQL's messages use. */
export function intRange(type: 'int2' | 'int4' | 'int8'): readonly [bigint, bigint, string] {
  return INT_RANGES[type];
}

/**
 * `int2in`/`int4in`/`int8in` of PostgreSQL 12 to 15: optional C-locale whitespace around an
 * optional sign and at least one decimal digit, nothing else (PostgreSQL 16 also reads `0x…`,
 * `0o…`, `0b…` and `_` separators). Out of range raises as well.
 */
export function intIn(text: string, type: 'int2' | 'int4' | 'int8'): bigint {
  const [min, max, name] = INT_RANGES[type];
  let start = 0;
  let end = text.length;
  while (start < end && isCSpace(text[start]!)) start++;
  while (end > start && isCSpace(text[end - 1]!)) end--;
  const body = text.slice(start, end);
  if (!/^[+-]?[0-9]+$/.test(body)) {
    throw new SqlError(`invalid input syntax for type ${name}: ${JSON.stringify(text.slice(0, 64))}`);
  }
  const value = BigInt(body);
  if (value < min || value > max) {
    throw new SqlError(`value ${JSON.stringify(text.slice(0, 64))} is out of range for type ${name}`);
  }
  return value;
}

/** `boolout`. */
export function boolOut(value: boolean): string {
  return value ? 'true' : 'false';
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** `s` with each unpaired surrogate replaced by U+FFFD, as UTF-8 encoding does. */
export function toWellFormed(s: string): string {
  return s.replace(new RegExp(LONE_SURROGATE.source, 'g'), '\uFFFD');
}

/**
 * Whether PostgreSQL's JSON parser refuses `JSON.stringify(value)`: a string (or key) holding
 * U+0000 ("unsupported Unicode escape sequence") or an unpaired surrogate.
 */
export function hasUnparsableString(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000') || LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.some(hasUnparsableString);
  if (value !== null && typeof value === 'object') {
    for (const [key, member] of Object.entries(value)) {
      if (hasUnparsableString(key) || hasUnparsableString(member)) return true;
    }
  }
  return false;
}

/**
 * A JSON number as `numeric_out` prints it after `numeric_in` read JavaScript's shortest form:
 * exponents expanded (`1e+21` → `1000000000000000000000`, `1.5e-7` → `0.00000015`).
 */
export function numericText(n: number): string {
  const s = JSON.stringify(n);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const negative = s.startsWith('-');
  const mantissa = s.slice(negative ? 1 : 0, e);
  const exponent = Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = mantissa.replace('.', '');
  const pointAt = (dot < 0 ? mantissa.length : dot) + exponent; // digits before the decimal point
  let out: string;
  if (pointAt <= 0) out = `0.${'0'.repeat(-pointAt)}${digits}`;
  else if (pointAt >= digits.length) out = digits + '0'.repeat(pointAt - digits.length);
  else out = `${digits.slice(0, pointAt)}.${digits.slice(pointAt)}`;
  return negative ? `-${out}` : out;
}

/** UTF-8 bytes of a (well-formed) string, for jsonb's key order. */
function utf8(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** jsonb orders object keys by length in bytes, then bytewise. */
function compareJsonbKeys(a: string, b: string): number {
  const x = utf8(a);
  const y = utf8(b);
  return x.length !== y.length ? x.length - y.length : Buffer.compare(x, y);
}

/** `jsonb_out` of a JSON value: `{"a": 1, "b": [1, 2]}` with sorted keys and numeric-printed numbers. */
export function jsonbText(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return boolOut(value);
  if (typeof value === 'number') return numericText(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareJsonbKeys(a, b));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${jsonbText(v)}`).join(', ')}}`;
}

/** What `->>` returns for a member `value` of a `json` (`isJsonb` false) or `jsonb`; SQL NULL for JSON null. */
export function jsonFieldText(value: unknown, isJsonb: boolean): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return boolOut(value);
  if (isJsonb) return jsonbText(value);
  return JSON.stringify(value); // json keeps the document's own text, which JSON.stringify wrote
}

/** The member `key` of a JSON object, or `undefined` (SQL NULL) for a missing key or a non-object. */
export function jsonMember(container: unknown, key: string): unknown {
  if (container === null || typeof container !== 'object' || Array.isArray(container)) return undefined;
  return Object.prototype.hasOwnProperty.call(container, key)
    ? (container as Record<string, unknown>)[key]
    : undefined;
}
