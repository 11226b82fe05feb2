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

/**
 * Largest RE2 program (instructions) accepted. RE2's time per character grows with the program
 * size p: a few ns while its DFA copes, up to O(p) when a hostile pattern and value make it build a
 * new DFA state at nearly every character. Past ~130 instructions its DFA cache gives up on such
 * pairs (`a[ab]{150}[^ab]` on random a/b text: ~1 s per 100 KB, every time); at 128 they cost up
 * to that once, then ~2–30 ms per 100 KB. 128 still fits patterns like a UUID or an e-mail address.
 */
export const MAX_PROGRAM_SIZE = 128;

/** Compiles once per filter. Throws {@link PatternError} naming what is unsupported or invalid. */
export function compileRegexPattern(pattern: string, caseInsensitive: boolean): TextPattern {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    throw new PatternError(`pattern longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  const unsupported = unsupportedFeature(pattern);
  if (unsupported !== null) {
    throw new PatternError(`${unsupported} are not supported in patterns (they run on RE2)`);
  }
  // Compiling costs ~5 µs per instruction: `(a…a){1000}` would hold the thread for most of a second.
  const tooComplex = new PatternError(
    `pattern too complex: it compiles to more than ${MAX_PROGRAM_SIZE} steps ` +
      '(a counted repetition such as {100} copies what it repeats)',
  );
  if (estimatedSize(pattern) > 4 * MAX_PROGRAM_SIZE) throw tooComplex;
  let compiled: RE2JS;
  try {
    compiled = RE2JS.compile(pattern, RE2JS.DOTALL | (caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0));
  } catch (err) {
    throw new PatternError(`invalid regular expression: ${(err as Error).message}`);
  }
  if (compiled.programSize() > MAX_PROGRAM_SIZE) throw tooComplex;
  return compiled;
}

/**
 * A rough size of the program `pattern` compiles to, from its text alone, to refuse before
 * compiling: an atom (a character, an escape, a bracket expression) counts 1, a group what it
 * holds plus 2, `|` `*` `+` `?` add 1, and a counted repetition multiplies what it repeats by its
 * largest count. Within a small factor of RE2's own count; one pass over the pattern.
 */
function estimatedSize(pattern: string): number {
  const outer: Array<{ done: number; last: number }> = [];
  let done = 0; // the sequence so far, but its last atom
  let last = 0; // the last atom, which a quantifier applies to
  const atom = (size: number): void => {
    done = Math.min(done + last, Number.MAX_SAFE_INTEGER);
    last = size;
  };
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      const next = pattern[i];
      if ((next === 'x' || next === 'p' || next === 'P') && pattern[i + 1] === '{') {
        const close = pattern.indexOf('}', i);
        if (close > 0) i = close;
      }
      atom(1);
    } else if (c === '[') {
      i = bracketEnd(pattern, i);
      atom(1);
    } else if (c === '(') {
      outer.push({ done, last });
      done = 0;
      last = 0;
      if (pattern[i + 1] === '?') {
        while (i + 1 < pattern.length && !':)>'.includes(pattern[i + 1]!)) i++;
        if (pattern[i + 1] !== ')') i++;
      }
    } else if (c === ')') {
      const size = done + last + 2;
      ({ done, last } = outer.pop() ?? { done, last });
      atom(size);
    } else if (c === '|') {
      atom(1);
    } else if (c === '*' || c === '+' || c === '?') {
      last += 1;
    } else if (c === '{') {
      const bound = /^\{(\d{1,6})(,(\d{0,6}))?\}/.exec(pattern.slice(i, i + 16));
      if (bound) {
        const low = Number(bound[1]);
        const high = bound[2] === undefined ? low : bound[3] === '' ? low + 1 : Number(bound[3]);
        last = Math.min(last * Math.max(low, high, 1), Number.MAX_SAFE_INTEGER);
        i += bound[0].length - 1;
      } else {
        atom(1);
      }
    } else {
      atom(1);
    }
  }
  return done + last;
}

/** The index of the `]` that closes the bracket expression opening at `start` (or the last index). */
function bracketEnd(pattern: string, start: number): number {
  let i = start + 1;
  if (pattern[i] === '^') i++;
  if (pattern[i] === ']') i++; // a leading `]` is literal
  for (; i < pattern.length && pattern[i] !== ']'; i++) {
    if (pattern[i] === '\\') i++;
    else if (pattern[i] === '[' && pattern[i + 1] === ':') {
      const close = pattern.indexOf(':]', i + 2);
      if (close > 0) i = close + 1;
    }
  }
  return i;
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
