/**
 * How deeply a JSON text nests, found by one scan of its characters before it is parsed.
 *
 * Why before: `JSON.parse` itself copes with any depth, but everything that walks the parsed value
 * recursively (`JSON.stringify` to hash or echo it, a structured clone, a logger) overflows the
 * stack on a value nested a few thousand levels deep, and a 10 KB frame can nest 5,000 levels.
 * Refusing such a frame before it becomes a value keeps every later step safe, and the scan is
 * linear in the frame's length with no allocation.
 */

const OPEN_BRACE = 0x7b; // {
const OPEN_BRACKET = 0x5b; // [
const CLOSE_BRACE = 0x7d; // }
const CLOSE_BRACKET = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * True when the arrays and objects of `text` nest more than `maxDepth` levels (`[]` is depth 1).
 * Brackets inside strings do not count. The text need not be valid JSON: the parser judges that.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}
