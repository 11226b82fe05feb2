/**
 * SQL LIKE and ILIKE as a matcher of our own, without RegExp: a RegExp built from `%%%…%x` can
 * backtrack for minutes on one value, this matcher cannot.
 *
 * Semantics are PostgreSQL's for UTF-8 text: `%` (and PostgREST's `*`) is any run of characters,
 * `_` exactly one character (a code point, not a UTF-16 unit), `\` makes the next character
 * literal, a pattern ending in `\` is an error, and the whole value must match. ILIKE matches the
 * lower-cased value against the lower-cased pattern, as PostgreSQL does for UTF-8 databases, one
 * code point at a time (`Σ` is always `σ`, `İ` is `i`).
 *
 * How: the pattern is split at its `%` runs into segments of literal text and `_`, each a fixed
 * number of code points long. The first segment must match at the start of the value and the last
 * at its end (O(m) each); each middle segment is taken at its leftmost place after the previous
 * one, which is optimal for LIKE (a fixed-length segment that starts earliest also ends earliest,
 * leaving the most room to the rest). A middle segment of literal text is found with the native
 * `indexOf` (linear); one holding `_` with a bit-parallel scan that reads each code point of the
 * value once at ⌈L/32⌉ word operations for a segment of L code points. So one value of n
 * characters costs O(n·⌈m/32⌉) at worst for a pattern of m characters (m ≤
 * {@link MAX_PATTERN_LENGTH}: at most 16 word operations per character), plus O(n) to lower-case
 * it for ILIKE; nothing backtracks.
 */
import { MAX_PATTERN_LENGTH, PatternError, type TextPattern } from './text-pattern';

/** Literal text, or a number of `_` (one code point each). */
type Part = string | number;

export class LikePattern implements TextPattern {
  /** The segments between the first and the last, each searched for as a whole. */
  private readonly middles: ReadonlyArray<string | WildcardSegment>;

  private constructor(
    /** Split at `%` runs: one segment means no `%`; an empty first or last segment means a leading or trailing `%`. */
    private readonly segments: readonly (readonly Part[])[],
    private readonly caseInsensitive: boolean,
  ) {
    this.middles = segments
      .slice(1, -1)
      .map((parts) =>
        parts.length === 1 && typeof parts[0] === 'string' ? parts[0] : new WildcardSegment(parts),
      );
  }

  /** Throws {@link PatternError} for a pattern ending in `\` or longer than {@link MAX_PATTERN_LENGTH}. */
  static compile(pattern: string, caseInsensitive: boolean): LikePattern {
    if (pattern.length > MAX_PATTERN_LENGTH) {
      throw new PatternError(`pattern longer than ${MAX_PATTERN_LENGTH} characters`);
    }
    const source = caseInsensitive ? lowerCodePoints(pattern) : pattern;
    const segments: Part[][] = [[]];
    let segment = segments[0]!;
    let literal = '';
    let inRun = false; // the last token was `%`: `%%` is one run
    const flush = (): void => {
      if (literal !== '') segment.push(literal);
      literal = '';
    };
    for (let i = 0; i < source.length; i++) {
      const c = source[i]!;
      if (c === '%' || c === '*') {
        if (!inRun) {
          flush();
          segment = [];
          segments.push(segment);
          inRun = true;
        }
        continue;
      }
      inRun = false;
      if (c === '_') {
        flush();
        const last = segment[segment.length - 1];
        if (typeof last === 'number') segment[segment.length - 1] = last + 1;
        else segment.push(1);
      } else if (c === '\\') {
        if (i + 1 === source.length) {
          throw new PatternError('LIKE pattern must not end with escape character');
        }
        literal += source[++i]!;
      } else {
        literal += c;
      }
    }
    flush();
    return new LikePattern(segments, caseInsensitive);
  }

  test(value: string): boolean {
    const text = this.caseInsensitive ? lowerCodePoints(value) : value;
    // Without surrogate pairs a code point is one UTF-16 unit, so `_` runs are skipped in O(1).
    const units = !SURROGATE.test(text);
    const segments = this.segments;
    const first = segments[0]!;
    if (segments.length === 1) return matchAt(first, text, 0, text.length, units) === text.length;
    const prefixEnd = matchAt(first, text, 0, text.length, units);
    if (prefixEnd < 0) return false;
    const suffixStart = matchBefore(segments[segments.length - 1]!, text, text.length, prefixEnd, units);
    if (suffixStart < 0) return false;
    let pos = prefixEnd;
    for (const middle of this.middles) {
      if (typeof middle === 'string') {
        pos = text.indexOf(middle, pos);
        if (pos < 0 || pos + middle.length > suffixStart) return false;
        pos += middle.length;
      } else {
        pos = middle.find(text, pos, suffixStart, units);
        if (pos < 0) return false;
      }
    }
    return true;
  }
}

const SURROGATE = /[\ud800-\udfff]/;

/** Where `parts` matched at `start` end within `text[start, limit)`; -1 when they do not match there. O(segment length). */
function matchAt(parts: readonly Part[], text: string, start: number, limit: number, units: boolean): number {
  let pos = start;
  for (let i = 0; i < parts.length && pos >= 0; i++) {
    const part = parts[i]!;
    if (typeof part === 'number') {
      pos = skipCodePoints(text, pos, part, limit, units);
    } else if (pos + part.length <= limit && text.startsWith(part, pos)) {
      pos += part.length;
    } else {
      pos = -1;
    }
  }
  return pos;
}

/** Where `parts` start when matched so as to end at `end`, not before `floor`; -1 when they do not match there. */
function matchBefore(
  parts: readonly Part[],
  text: string,
  end: number,
  floor: number,
  units: boolean,
): number {
  let pos = end;
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i]!;
    if (typeof part === 'string') {
      pos -= part.length;
      if (pos < floor || !text.startsWith(part, pos)) return -1;
    } else if (units) {
      pos -= part;
      if (pos < floor) return -1;
    } else {
      for (let k = 0; k < part; k++) {
        if (pos <= floor) return -1;
        pos -= pos - 2 >= floor && isLowSurrogate(text, pos - 1) && isHighSurrogate(text, pos - 2) ? 2 : 1;
      }
    }
  }
  return pos;
}

/**
 * A middle segment holding `_`, searched for with the bit-parallel Shift-And algorithm: bit j of
 * the state says whether the segment's first j+1 code points match the text just read, so each
 * code point of the text costs one map lookup and ⌈L/32⌉ word operations for a segment of L code
 * points, however the pattern is built. The first match to end is the leftmost (fixed length).
 */
class WildcardSegment {
  private readonly words: number;
  private readonly lastWord: number;
  private readonly lastBit: number;
  /** Per code point of the segment: the positions it or `_` may take. */
  private readonly masks = new Map<number, Uint32Array>();
  /** The same for Latin-1 code points, by index: no map lookup for most text. */
  private readonly latin1: Uint32Array[];
  /** The positions of `_`, which any other code point may take. */
  private readonly wildcards: Uint32Array;
  private readonly state: Uint32Array;

  constructor(parts: readonly Part[]) {
    const codePoints: number[] = []; // -1 for `_`
    for (const part of parts) {
      if (typeof part === 'number') for (let k = 0; k < part; k++) codePoints.push(-1);
      else for (const c of part) codePoints.push(c.codePointAt(0)!);
    }
    const length = codePoints.length;
    this.words = Math.ceil(length / 32);
    this.lastWord = (length - 1) >>> 5;
    this.lastBit = 1 << ((length - 1) & 31);
    this.wildcards = new Uint32Array(this.words);
    this.state = new Uint32Array(this.words);
    codePoints.forEach((c, j) => {
      if (c === -1) this.wildcards[j >>> 5]! |= 1 << (j & 31);
    });
    codePoints.forEach((c, j) => {
      if (c === -1) return;
      let mask = this.masks.get(c);
      if (!mask) this.masks.set(c, (mask = Uint32Array.from(this.wildcards)));
      mask[j >>> 5]! |= 1 << (j & 31);
    });
    this.latin1 = Array.from({ length: 256 }, (_, c) => this.masks.get(c) ?? this.wildcards);
  }

  /** The end of the leftmost match inside `text[from, limit)`, or -1. */
  find(text: string, from: number, limit: number, units: boolean): number {
    const state = this.state;
    state.fill(0);
    let pos = from;
    while (pos < limit) {
      let c = text.charCodeAt(pos);
      pos++;
      if (!units && c >= 0xd800 && c <= 0xdbff && pos < limit) {
        const low = text.charCodeAt(pos);
        if (low >= 0xdc00 && low <= 0xdfff) {
          c = (c - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
          pos++;
        }
      }
      const mask = c < 256 ? this.latin1[c]! : (this.masks.get(c) ?? this.wildcards);
      let carry = 1;
      for (let w = 0; w < this.words; w++) {
        const bits = state[w]!;
        state[w] = ((bits << 1) | carry) & mask[w]!;
        carry = bits >>> 31;
      }
      if ((state[this.lastWord]! & this.lastBit) !== 0) return pos;
    }
    return -1;
  }
}

/** The position `count` code points after `pos`, or -1 past `limit`. */
function skipCodePoints(text: string, pos: number, count: number, limit: number, units: boolean): number {
  if (units) return pos + count <= limit ? pos + count : -1;
  for (let k = 0; k < count; k++) {
    if (pos >= limit) return -1;
    pos += codePointWidth(text, pos, limit);
  }
  return pos;
}

/** 2 for a surrogate pair starting at `pos` (inside `limit`), else 1. */
function codePointWidth(text: string, pos: number, limit: number): number {
  return pos + 1 < limit && isHighSurrogate(text, pos) && isLowSurrogate(text, pos + 1) ? 2 : 1;
}

function isHighSurrogate(text: string, pos: number): boolean {
  const unit = text.charCodeAt(pos);
  return unit >= 0xd800 && unit <= 0xdbff;
}

function isLowSurrogate(text: string, pos: number): boolean {
  const unit = text.charCodeAt(pos);
  return unit >= 0xdc00 && unit <= 0xdfff;
}

/**
 * Lower case one code point at a time, as PostgreSQL's `lower()` does for UTF-8 text. JavaScript's
 * `toLowerCase` differs for exactly two characters: `İ` becomes two code points and `Σ` depends
 * on its neighbours (final sigma). Linear in the text.
 */
export function lowerCodePoints(text: string): string {
  if (!CONTEXT_OR_MULTI.test(text)) return text.toLowerCase();
  return text.replace(CONTEXT_OR_MULTI_ALL, (c) => (c === '\u0130' ? 'i' : '\u03c3')).toLowerCase();
}

const CONTEXT_OR_MULTI = /[\u0130\u03a3]/;
const CONTEXT_OR_MULTI_ALL = /[\u0130\u03a3]/g;
