/**
 * The `filter` grammar of Supabase Realtime's postgres_changes (docs/protocol.md F1; the 2026 server's):
 *
 *   filter     := condition ("," condition)*                  (AND)
 *   condition  := column "=" ["not."] op "." value
 *   op         := eq | neq | lt | lte | gt | gte | in | like | ilike | is | match | imatch | isdistinct
 *   in-value   := "(" item ("," item)* ")"                     (at most 100 items)
 *   is-value   := null | true | false | unknown
 *
 * Values holding `,` `(` `)` are written in PostgREST double quotes (`name=eq."a,b"`, `\"` and `\\`
 * escape inside), or with a backslash before the comma (`area=eq.Oslo\, Norway`, the server's
 * form). An unquoted value is everything after the first `.` of the op, so it may contain `.`,
 * `=` and `:`. A whitespace-only filter means no filter.
 *
 * Every step is linear in the filter's length, and `like`/`ilike`/`match`/`imatch` values compile
 * to patterns whose cost per change is bounded (text-pattern.ts). Pure: no I/O. Errors carry the
 * wording clients of the reference server see.
 */
import { LikePattern } from './like-pattern';
import { compileRegexPattern } from './regex-pattern';
import { PatternError, type TextPattern } from './text-pattern';

export type FilterOp =
  | 'eq'
  | 'neq'
  | 'lt'
  | 'lte'
  | 'gt'
  | 'gte'
  | 'in'
  | 'like'
  | 'ilike'
  | 'is'
  | 'match'
  | 'imatch'
  | 'isdistinct';

const OPS: ReadonlySet<string> = new Set([
  'eq',
  'neq',
  'lt',
  'lte',
  'gt',
  'gte',
  'in',
  'like',
  'ilike',
  'is',
  'match',
  'imatch',
  'isdistinct',
]);

export const MAX_IN_VALUES = 100;

export interface FilterCondition {
  column: string;
  op: FilterOp;
  /** `not.` prefix. */
  negate: boolean;
  /** The value; `in` keeps its items in `values`; `is` keeps `null`/`true`/`false`/`unknown`. */
  value: string;
  values: readonly string[];
  /** Compiled `like`/`ilike`/`match`/`imatch` pattern. */
  pattern: TextPattern | null;
}

export class FilterError extends Error {
  constructor(
    readonly params: readonly string[],
    readonly detail: string,
  ) {
    super(`Error parsing \`filter\` params: ${JSON.stringify(params)}`);
    this.name = 'FilterError';
  }
}

/** Parses a filter string; `[]` for none. Throws {@link FilterError}. */
export function parseFilter(filter: string | null | undefined): FilterCondition[] {
  if (filter === null || filter === undefined || filter.trim() === '') return [];
  return splitTopLevel(filter, ',').map((part) => parseCondition(part.trim()));
}

function parseCondition(part: string): FilterCondition {
  const eq = part.indexOf('=');
  if (eq <= 0) throw new FilterError([part], `missing '=' in filter part '${part}'`);
  const column = part.slice(0, eq).trim();
  let rest = part.slice(eq + 1).trim();
  let negate = false;
  if (rest.startsWith('not.')) {
    negate = true;
    rest = rest.slice(4);
  }
  const dot = rest.indexOf('.');
  const op = dot < 0 ? rest : rest.slice(0, dot);
  const raw = dot < 0 ? '' : rest.slice(dot + 1);
  if (!OPS.has(op)) throw new FilterError(dot < 0 ? [part] : [op, raw], `unknown operator '${op}'`);
  const condition: FilterCondition = {
    column,
    op: op as FilterOp,
    negate,
    value: '',
    values: [],
    pattern: null,
  };
  if (op === 'in') {
    condition.values = parseInList(raw, part);
    return condition;
  }
  const value = unquote(raw);
  if (value === null) throw new FilterError([op, raw], `missing value in '${part}'`);
  condition.value = value;
  if (op === 'is') {
    condition.value = value.toLowerCase();
    if (!['null', 'true', 'false', 'unknown'].includes(condition.value)) {
      throw new FilterError([op, raw], '`is` takes null, true, false or unknown');
    }
  } else if (op === 'like' || op === 'ilike' || op === 'match' || op === 'imatch') {
    condition.pattern = compilePattern(op, value, raw);
  }
  return condition;
}

function compilePattern(op: 'like' | 'ilike' | 'match' | 'imatch', value: string, raw: string): TextPattern {
  try {
    return op === 'like' || op === 'ilike'
      ? LikePattern.compile(value, op === 'ilike')
      : compileRegexPattern(value, op === 'imatch');
  } catch (err) {
    if (err instanceof PatternError) throw new FilterError([op, raw], err.message);
    throw err;
  }
}

function parseInList(raw: string, part: string): string[] {
  const trimmed = raw.trim();
  if (!trimmed.startsWith('(') || !trimmed.endsWith(')')) {
    throw new FilterError(['in', raw], '`in` filter value must be wrapped by parentheses');
  }
  const items = splitTopLevel(trimmed.slice(1, -1), ',', true).map((item) => unquote(item.trim()));
  if (items.length === 0 || items.some((i) => i === null))
    throw new FilterError(['in', raw], `empty item in '${part}'`);
  if (items.length > MAX_IN_VALUES) {
    throw new FilterError(['in', raw], `\`in\` takes at most ${MAX_IN_VALUES} values, got ${items.length}`);
  }
  return items as string[];
}

/** A PostgREST double-quoted value is unquoted; otherwise `\,` becomes `,`. `null` for an empty unquoted value. */
function unquote(raw: string): string | null {
  if (raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"')) {
    return raw.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  const value = raw.replace(/\\,/g, ',');
  return value.length === 0 ? null : value;
}

/** Splits on `sep` outside double quotes and parentheses; a backslash escapes the next character. */
function splitTopLevel(text: string, sep: string, keepEmpty = false): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && c === '(') {
      depth++;
    } else if (!quoted && c === ')') {
      depth = Math.max(0, depth - 1);
    } else if (!quoted && depth === 0 && c === sep) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return keepEmpty ? parts : parts.filter((p) => p.trim() !== '');
}
