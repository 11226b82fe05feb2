/**
 * Parses the policy expressions PostgreSQL prints (`pg_get_expr(polqual, polrelid)`, what
 * `pg_policies.qual` shows) into a small syntax tree. Only the shapes the deparser produces for
 * the compiled subset are accepted: fully parenthesised operators, `'…'::type` constants, bare
 * integers, unqualified (or double-quoted) column names, `schema.fn()` calls with constant
 * arguments, `( SELECT expr [AS alias])`, `x = ANY (ARRAY[…])`, `IS [NOT] NULL|TRUE|FALSE`,
 * `IS [NOT] DISTINCT FROM`, `COALESCE(…)`,
 * `AND`/`OR`/`NOT`, `->`/`->>`. Keywords are matched in the case the deparser prints them
 * (`AND`, `IS NULL`, `ARRAY`, but `true`/`false`); anything else is a {@link PolicySyntaxError},
 * which the compiler turns into "not compiled", never into a guess.
 */

/** A parsed expression. Types are not resolved here (see policy-compiler.ts). */
export type PolicyExpr =
  | { kind: 'bool'; value: boolean }
  | { kind: 'null' }
  /** `'…'` (its text) or a bare integer (its digits); `type` is the cast that follows, if any. */
  | { kind: 'literal'; text: string; isString: boolean }
  | { kind: 'column'; name: string }
  | { kind: 'call'; name: string; args: PolicyExpr[] }
  | { kind: 'cast'; expr: PolicyExpr; type: string }
  | { kind: 'op'; op: string; left: PolicyExpr; right: PolicyExpr }
  | { kind: 'and' | 'or'; args: PolicyExpr[] }
  | { kind: 'not'; arg: PolicyExpr }
  | { kind: 'test'; arg: PolicyExpr; test: 'null' | 'true' | 'false' | 'unknown'; negated: boolean }
  | { kind: 'array-op'; op: string; quantifier: 'ANY' | 'ALL'; left: PolicyExpr; items: PolicyExpr[] }
  | { kind: 'distinct'; left: PolicyExpr; right: PolicyExpr; negated: boolean }
  | { kind: 'coalesce'; args: PolicyExpr[] }
  | { kind: 'subselect'; expr: PolicyExpr };

export class PolicySyntaxError extends Error {}

type Token =
  | { t: 'word'; v: string } // unquoted identifier or keyword, as printed
  | { t: 'ident'; v: string } // "quoted identifier"
  | { t: 'string'; v: string }
  | { t: 'number'; v: string }
  | { t: 'op'; v: string } // operator characters
  | { t: 'punct'; v: '(' | ')' | '[' | ']' | ',' | '.' | '::' };

const OP_CHARS = '+-*/<>=~!@#%^&|`?';
const COMPARISONS = new Set(['=', '<>', '<', '>', '<=', '>=']);
const KEYWORDS = new Set([
  'AND',
  'OR',
  'NOT',
  'IS',
  'NULL',
  'ANY',
  'ALL',
  'ARRAY',
  'SELECT',
  'AS',
  'DISTINCT',
  'FROM',
  'COALESCE',
]);
/** Multi-word type names the deparser prints, by first word. */
const MULTI_WORD_TYPES: Record<string, string[]> = {
  timestamp: ['timestamp with time zone', 'timestamp without time zone'],
  time: ['time with time zone', 'time without time zone'],
  character: ['character varying'],
  double: ['double precision'],
};

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === ' ' || c === '\n' || c === '\t' || c === '\r') {
      i++;
    } else if (c === "'") {
      let v = '';
      i++;
      for (;;) {
        const q = text.indexOf("'", i);
        if (q < 0) throw new PolicySyntaxError('unterminated string');
        v += text.slice(i, q);
        i = q + 1;
        if (text[i] !== "'") break;
        v += "'";
        i++;
      }
      tokens.push({ t: 'string', v });
    } else if (c === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new PolicySyntaxError('unterminated identifier');
        v += text.slice(i, q);
        i = q + 1;
        if (text[i] !== '"') break;
        v += '"';
        i++;
      }
      tokens.push({ t: 'ident', v });
    } else if (c >= '0' && c <= '9') {
      const m = /^[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?/.exec(text.slice(i))![0];
      tokens.push({ t: 'number', v: m });
      i += m.length;
    } else if (/[A-Za-z_]/.test(c) || c.charCodeAt(0) >= 0x80) {
      const m = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(text.slice(i))![0];
      tokens.push({ t: 'word', v: m });
      i += m.length;
    } else if (c === ':' && text[i + 1] === ':') {
      tokens.push({ t: 'punct', v: '::' });
      i += 2;
    } else if (c === '(' || c === ')' || c === '[' || c === ']' || c === ',' || c === '.') {
      tokens.push({ t: 'punct', v: c });
      i++;
    } else if (OP_CHARS.includes(c)) {
      let j = i;
      while (j < text.length && OP_CHARS.includes(text[j]!)) j++;
      tokens.push({ t: 'op', v: text.slice(i, j) });
      i = j;
    } else {
      throw new PolicySyntaxError(`unexpected character ${JSON.stringify(c)}`);
    }
  }
  return tokens;
}

/** Parses one deparsed policy expression; throws {@link PolicySyntaxError} outside the accepted shapes. */
export function parsePolicyExpr(text: string): PolicyExpr {
  const parser = new Parser(tokenize(text));
  const expr = parser.parseOr();
  parser.expectEnd();
  return expr;
}

class Parser {
  private pos = 0;

  constructor(private readonly tokens: Token[]) {}

  expectEnd(): void {
    if (this.pos !== this.tokens.length) throw new PolicySyntaxError('unexpected trailing input');
  }

  parseOr(): PolicyExpr {
    const args = [this.parseAnd()];
    while (this.isKeyword('OR')) {
      this.pos++;
      args.push(this.parseAnd());
    }
    return args.length === 1 ? args[0]! : { kind: 'or', args };
  }

  private parseAnd(): PolicyExpr {
    const args = [this.parseNot()];
    while (this.isKeyword('AND')) {
      this.pos++;
      args.push(this.parseNot());
    }
    return args.length === 1 ? args[0]! : { kind: 'and', args };
  }

  private parseNot(): PolicyExpr {
    if (this.isKeyword('NOT')) {
      this.pos++;
      return { kind: 'not', arg: this.parseNot() };
    }
    return this.parseTest();
  }

  private parseTest(): PolicyExpr {
    let expr = this.parseComparison();
    while (this.isKeyword('IS')) {
      this.pos++;
      let negated = false;
      if (this.isKeyword('NOT')) {
        this.pos++;
        negated = true;
      }
      if (this.isKeyword('DISTINCT')) {
        this.pos++;
        if (!this.isKeyword('FROM')) throw new PolicySyntaxError('expected FROM');
        this.pos++;
        expr = { kind: 'distinct', left: expr, right: this.parseArrow(), negated };
        continue;
      }
      const t = this.next();
      let test: 'null' | 'true' | 'false' | 'unknown';
      if (t?.t === 'word' && t.v === 'NULL') test = 'null';
      else if (t?.t === 'word' && t.v === 'TRUE') test = 'true';
      else if (t?.t === 'word' && t.v === 'FALSE') test = 'false';
      else if (t?.t === 'word' && t.v === 'UNKNOWN') test = 'unknown';
      else throw new PolicySyntaxError('unsupported IS test');
      expr = { kind: 'test', arg: expr, test, negated };
    }
    return expr;
  }

  private parseComparison(): PolicyExpr {
    const left = this.parseArrow();
    const t = this.peek();
    if (t?.t !== 'op' || !COMPARISONS.has(t.v)) return left;
    this.pos++;
    if (this.isKeyword('ANY') || this.isKeyword('ALL')) {
      const quantifier = (this.next() as { v: 'ANY' | 'ALL' }).v;
      this.expectPunct('(');
      if (!this.isKeyword('ARRAY')) throw new PolicySyntaxError('ANY/ALL over something else than ARRAY[…]');
      this.pos++;
      this.expectPunct('[');
      const items: PolicyExpr[] = [];
      if (!this.isPunct(']')) {
        items.push(this.parseOr());
        while (this.isPunct(',')) {
          this.pos++;
          items.push(this.parseOr());
        }
      }
      this.expectPunct(']');
      this.expectPunct(')');
      return { kind: 'array-op', op: t.v, quantifier, left, items };
    }
    const right = this.parseArrow();
    const after = this.peek();
    if (after?.t === 'op' && COMPARISONS.has(after.v)) throw new PolicySyntaxError('chained comparison');
    return { kind: 'op', op: t.v, left, right };
  }

  private parseArrow(): PolicyExpr {
    let expr = this.parseCast();
    for (;;) {
      const t = this.peek();
      if (t?.t === 'op' && (t.v === '->' || t.v === '->>')) {
        this.pos++;
        expr = { kind: 'op', op: t.v, left: expr, right: this.parseCast() };
      } else if (t?.t === 'op' && !COMPARISONS.has(t.v)) {
        throw new PolicySyntaxError(`unsupported operator ${t.v}`);
      } else {
        return expr;
      }
    }
  }

  private parseCast(): PolicyExpr {
    let expr = this.parsePrimary();
    while (this.isPunct('::')) {
      this.pos++;
      expr = { kind: 'cast', expr, type: this.parseTypeName() };
    }
    return expr;
  }

  private parseTypeName(): string {
    const first = this.next();
    if (first?.t !== 'word' || KEYWORDS.has(first.v)) throw new PolicySyntaxError('expected a type name');
    for (const candidate of MULTI_WORD_TYPES[first.v] ?? []) {
      const words = candidate.split(' ').slice(1);
      if (
        words.every((w, k) => this.tokens[this.pos + k]?.t === 'word' && this.tokens[this.pos + k]?.v === w)
      ) {
        this.pos += words.length;
        return candidate;
      }
    }
    if (this.isPunct('.') || this.isPunct('[') || this.isPunct('(')) {
      throw new PolicySyntaxError('qualified, array or modified type name');
    }
    return first.v;
  }

  private parsePrimary(): PolicyExpr {
    const t = this.next();
    if (t === undefined) throw new PolicySyntaxError('unexpected end');
    switch (t.t) {
      case 'string':
        return { kind: 'literal', text: t.v, isString: true };
      case 'number':
        if (!/^[0-9]+$/.test(t.v)) throw new PolicySyntaxError('non-integer number');
        return { kind: 'literal', text: t.v, isString: false };
      case 'ident':
        return this.parseName(t.v);
      case 'word':
        if (t.v === 'true' || t.v === 'false') return { kind: 'bool', value: t.v === 'true' };
        if (t.v === 'NULL') return { kind: 'null' };
        if (t.v === 'COALESCE' && this.isPunct('(')) {
          const call = this.parseName('coalesce');
          return { kind: 'coalesce', args: (call as { args: PolicyExpr[] }).args };
        }
        if (KEYWORDS.has(t.v) || /[A-Z]/.test(t.v)) throw new PolicySyntaxError(`unexpected ${t.v}`);
        return this.parseName(t.v);
      case 'punct':
        if (t.v !== '(') throw new PolicySyntaxError(`unexpected ${t.v}`);
        if (this.isKeyword('SELECT')) {
          this.pos++;
          const expr = this.parseOr();
          if (this.isKeyword('AS')) {
            this.pos++;
            const alias = this.next();
            if (alias?.t !== 'word' && alias?.t !== 'ident') throw new PolicySyntaxError('expected an alias');
          }
          this.expectPunct(')');
          return { kind: 'subselect', expr };
        } else {
          const expr = this.parseOr();
          this.expectPunct(')');
          return expr;
        }
      case 'op':
        throw new PolicySyntaxError(`unexpected operator ${t.v}`);
    }
  }

  /** A column, or `schema.function(args)` (a function must be schema-qualified or a known built-in). */
  private parseName(first: string): PolicyExpr {
    let name = first;
    if (this.isPunct('.')) {
      this.pos++;
      const second = this.next();
      if (second?.t !== 'word' && second?.t !== 'ident')
        throw new PolicySyntaxError('expected a name after .');
      if (!this.isPunct('(')) throw new PolicySyntaxError('qualified column reference');
      name = `${first}.${second.v}`;
    }
    if (!this.isPunct('(')) return { kind: 'column', name };
    this.pos++;
    const args: PolicyExpr[] = [];
    if (!this.isPunct(')')) {
      args.push(this.parseOr());
      while (this.isPunct(',')) {
        this.pos++;
        args.push(this.parseOr());
      }
    }
    this.expectPunct(')');
    return { kind: 'call', name, args };
  }

  private peek(): Token | undefined {
    return this.tokens[this.pos];
  }

  private next(): Token | undefined {
    return this.tokens[this.pos++];
  }

  private isKeyword(word: string): boolean {
    const t = this.tokens[this.pos];
    return t?.t === 'word' && t.v === word;
  }

  private isPunct(p: string): boolean {
    const t = this.tokens[this.pos];
    return t?.t === 'punct' && t.v === p;
  }

  private expectPunct(p: string): void {
    if (!this.isPunct(p)) throw new PolicySyntaxError(`expected ${p}`);
    this.pos++;
  }
}
