/**
 * Splits a JSON object's text into its members without parsing their values, so a projection
 * (`select`) can rebuild an event from the ingester's own bytes and int8/numeric keep their digits.
 * Input is trusted to be valid JSON (it comes from the ingester through the bus envelope check).
 */

/** The members of the JSON object `text` as [key, raw value text] pairs, in order. */
export function objectMembers(text: string): Array<[string, string]> {
  const members: Array<[string, string]> = [];
  let i = skipWs(text, 0);
  if (text[i] !== '{') throw new SyntaxError('not a JSON object');
  i = skipWs(text, i + 1);
  if (text[i] === '}') return members;
  for (;;) {
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    if (text[i] !== ':') throw new SyntaxError('expected :');
    const start = skipWs(text, i + 1);
    const end = skipValue(text, start);
    members.push([key, text.slice(start, end)]);
    i = skipWs(text, end);
    if (text[i] === '}') return members;
    if (text[i] !== ',') throw new SyntaxError('expected , or }');
    i = skipWs(text, i + 1);
  }
}

/** Rebuilds an object's text from members. */
export function joinMembers(members: ReadonlyArray<readonly [string, string]>): string {
  return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

function skipWs(text: string, i: number): number {
  while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t'))
    i++;
  return i;
}

function skipString(text: string, i: number): number {
  if (text[i] !== '"') throw new SyntaxError('expected a string');
  for (i++; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i + 1;
  }
  throw new SyntaxError('unterminated string');
}

function skipValue(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return skipString(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (; i < text.length; i++) {
      const ch = text[i];
      if (ch === '"') i = skipString(text, i) - 1;
      else if (ch === '{' || ch === '[') depth++;
      else if (ch === '}' || ch === ']') {
        depth--;
        if (depth === 0) return i + 1;
      }
    }
    throw new SyntaxError('unterminated value');
  }
  while (i < text.length && text[i] !== ',' && text[i] !== '}' && text[i] !== ']' && !/\s/.test(text[i]!))
    i++;
  return i;
}
