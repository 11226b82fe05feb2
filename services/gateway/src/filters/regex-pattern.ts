/**
 * `match` and `imatch` (PostgreSQL `~` and `~*`) on RE2 (re2js): an unanchored search whose time
 * is linear in the value for a given pattern, whatever the pattern, so `(.*)*x` costs what `x`
 * costs. A JavaScript RegExp would backtrack.
 *
 * PostgreSQL's defaults are kept: `.` and `[^…]` match a newline, `^` and `$` only match at the
 * ends of the value, `imatch` folds case (Unicode simple folding). RE2 has no back-references and
 * no lookaround, and reads a few PostgreSQL escapes differently or not at all; those patterns are
 * refused at join, naming the feature, rather than run with another meaning. What RE2 reads the
 * same way but answers differently (`\d`, `\w` and `[[:alpha:]]` are ASCII-only) is documented in
 * docs/protocol.md.
 */
import { RE2JS } from 're2js';
import { MAX_PATTERN_LENGTH, PatternError, type TextPattern } from './text-pattern';

/** Compiles once per filter. Throws {@link PatternError} naming what is unsupported or invalid. */
export function compileRegexPattern(pattern: string, caseInsensitive: boolean): TextPattern {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new PatternError(`pattern longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  const unsupported = unsupportedFeature(pattern);
  if (unsupported !== null) {
    throw new PatternError(`${unsupported} are not supported in patterns (they run on RE2)`);
  }
  try {
    return RE2JS.compile(pattern, RE2JS.DOTALL | (caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0));
  } catch (err) {
    throw new PatternError(`invalid regular expression: ${(err as Error).message}`);
  }
}

/**
 * The PostgreSQL feature RE2 would refuse with an obscure message or, worse, read differently;
 * `null` when none. One pass over the pattern.
 */
function unsupportedFeature(pattern: string): string | null {
  if (pattern.startsWith('***')) return 'the ***= and ***: directors';
  let inBracket = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    const next = pattern[i + 1];
    if (c === '\\') {
      i++;
      if (inBracket || next === undefined) continue;
      if (next >= '1' && next <= '9') return 'back-references (\\1 to \\9)';
      if (next === 'b' || next === 'B') {
        return '\\b and \\B (backspace and backslash in PostgreSQL, word boundaries in RE2)';
      }
      if ('mMyYZ'.includes(next)) return 'the boundary escapes \\m, \\M, \\y, \\Y and \\Z';
    } else if (inBracket) {
      if (c === '[' && (next === '.' || next === '=')) {
        return 'collating elements and equivalence classes ([[.x.]], [[=x=]])';
      }
      if (c === '[' && next === ':') {
        const close = pattern.indexOf(':]', i + 2);
        if (close < 0) return null; // RE2 says what is wrong
        const name = pattern.slice(i + 2, close);
        if (name === '<' || name === '>') return 'the word boundaries [[:<:]] and [[:>:]]';
        i = close + 1;
      } else if (c === ']') {
        inBracket = false;
      }
    } else if (c === '[') {
      inBracket = true;
      if (pattern[i + 1] === '^') i++;
      if (pattern[i + 1] === ']') i++; // a leading `]` is literal
    } else if (c === '(' && next === '?') {
      const rest = pattern.slice(i + 2, i + 4);
      if (rest[0] === '=' || rest[0] === '!' || rest === '<=' || rest === '<!') {
        return 'lookahead and lookbehind constraints';
      }
      const flags = /^[a-zA-Z]+(?=[):])/.exec(pattern.slice(i + 2, i + 12));
      if (flags && /[^i]/.test(flags[0])) return 'embedded options other than (?i)';
    }
  }
  return null;
}
