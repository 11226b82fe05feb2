/**
 * Compiles one parsed policy expression to a typed {@link Node}, following PostgreSQL's typing,
 * casts and operators for the subset policy-compiler.ts documents; anything else throws
 * NotCompilable. Constant subexpressions are folded as PostgreSQL's planner folds them.
 */
import { type AuthFunctionName, type AuthFunctions, isSupabaseAuthFunction } from './auth-functions';
import { AUTH_NODES, isClaimsSetting, settingValue } from './auth-nodes';
import type { PolicyExpr } from './policy-parser';
import {
  type EvalContext,
  INT_TYPES,
  type IntType,
  type Json,
  type Node,
  NotCompilable,
  type SqlType,
  type Value,
  columnValue,
  comparison,
  constant,
  hasOwn,
  strict,
} from './predicate-nodes';
import {
  SqlError,
  boolIn,
  boolOut,
  intIn,
  intRange,
  jsonFieldText,
  jsonMember,
  uuidIn,
  uuidOut,
} from './sql-values';

/** The table the policies belong to; `type` is `pg_type.typname`, as change events carry it. */
export interface TableShape {
  schema: string;
  table: string;
  columns: { name: string; type: string }[];
}

const CAST_TYPES: Record<string, SqlType> = {
  text: 'text',
  uuid: 'uuid',
  smallint: 'int2',
  integer: 'int4',
  bigint: 'int8',
  boolean: 'bool',
  json: 'json',
  jsonb: 'jsonb',
};
const COLUMN_TYPES: Record<string, SqlType> = {
  uuid: 'uuid',
  text: 'text',
  varchar: 'varchar',
  int2: 'int2',
  int4: 'int4',
  int8: 'int8',
  bool: 'bool',
};
const AUTH_CALLS: Record<string, AuthFunctionName> = {
  'auth.uid': 'uid',
  'auth.jwt': 'jwt',
  'auth.role': 'role',
  'auth.email': 'email',
};
const SETTINGS = new Set(['request.jwt.claims', 'request.jwt.claim.sub', 'request.jwt.claim.role']);
export class ExpressionCompiler {
  private readonly columns = new Map<string, SqlType>();

  constructor(
    shape: TableShape,
    private readonly auth: AuthFunctions,
  ) {
    for (const c of shape.columns) this.columns.set(c.name, COLUMN_TYPES[c.type] ?? 'opaque');
  }

  compile(e: PolicyExpr): Node {
    switch (e.kind) {
      case 'bool':
        return constant('bool', e.value);
      case 'null':
        throw new NotCompilable('untyped NULL');
      case 'literal':
        if (e.isString) throw new NotCompilable('untyped string literal');
        return this.intConstant(e.text, 'int4');
      case 'column':
        return this.column(e.name);
      case 'call':
        return this.call(e.name, e.args);
      case 'cast':
        return this.cast(e.expr, e.type);
      case 'op':
        return e.op === '->' || e.op === '->>'
          ? this.arrow(e.op, e.left, e.right)
          : this.compare(e.op, e.left, e.right);
      case 'and':
      case 'or':
        return this.bool(
          e.kind,
          e.args.map((a) => this.compileBool(a)),
        );
      case 'not': {
        const arg = this.compileBool(e.arg);
        return strict('bool', [arg], ([v]) => !(v as boolean));
      }
      case 'test':
        return this.test(this.compile(e.arg), e.test, e.negated);
      case 'array-op':
        return this.arrayOp(e.op, e.quantifier, e.left, e.items);
      case 'distinct':
        return this.distinct(e.left, e.right, e.negated);
      case 'coalesce':
        return this.coalesce(e.args);
      case 'subselect': {
        const inner = this.compile(e.expr);
        return { type: inner.type, run: (ctx) => inner.run(ctx) }; // a subplan is never folded
      }
    }
  }

  private compileBool(e: PolicyExpr): Node {
    const node = this.compile(e);
    if (node.type !== 'bool') throw new NotCompilable('not a boolean');
    return node;
  }

  private intConstant(text: string, type: SqlType): Node {
    if (!/^-?[0-9]+$/.test(text)) throw new NotCompilable('not an integer');
    const value = BigInt(text);
    const [min, max] = intRange(type as IntType);
    if (value < min || value > max) throw new NotCompilable('integer out of range');
    return constant(type, value);
  }

  private column(name: string): Node {
    const type = this.columns.get(name);
    if (type === undefined) throw new NotCompilable(`unknown column ${name}`);
    // own members only: a column may be called `constructor` or `__proto__`
    return { type, run: (ctx) => columnValue(hasOwn(ctx.row, name) ? ctx.row[name] : undefined, type) };
  }

  private call(name: string, args: PolicyExpr[]): Node {
    const authName = AUTH_CALLS[name];
    if (authName !== undefined) {
      if (args.length !== 0 || !isSupabaseAuthFunction(this.auth, authName)) {
        throw new NotCompilable(`${name} is not Supabase's`);
      }
      return AUTH_NODES[authName];
    }
    if (name !== 'current_setting' || args.length < 1 || args.length > 2) {
      throw new NotCompilable(`function ${name}`);
    }
    const [setting, missingOk] = args;
    const isTextLiteral =
      setting?.kind === 'cast' && setting.type === 'text' && setting.expr.kind === 'literal';
    const settingName = isTextLiteral && setting.expr.kind === 'literal' ? setting.expr.text : '';
    if (!SETTINGS.has(settingName)) throw new NotCompilable(`setting ${settingName}`);
    if (missingOk !== undefined && missingOk.kind !== 'bool')
      throw new NotCompilable('missing_ok not constant');
    return { type: 'text', run: (ctx) => settingValue(ctx, settingName) };
  }

  private cast(expr: PolicyExpr, typeName: string): Node {
    const to = CAST_TYPES[typeName];
    if (to === undefined) throw new NotCompilable(`cast to ${typeName}`);
    if (expr.kind === 'literal' && expr.isString) {
      if (INT_TYPES.has(to)) return this.intConstant(expr.text, to);
      if (to === 'text') return constant('text', expr.text);
      if (to === 'uuid') return constant('uuid', uuidIn(expr.text));
      if (to === 'bool') return constant('bool', boolIn(expr.text));
      throw new NotCompilable(`literal ${typeName}`);
    }
    if (expr.kind === 'null') return constant(to, null);
    const from = this.compile(expr);
    if (from.type === to) return from;
    if (INT_TYPES.has(from.type) && INT_TYPES.has(to)) {
      const [min, max, name] = intRange(to as IntType);
      return strict(to, [from], ([v]) => {
        if ((v as bigint) < min || (v as bigint) > max) throw new SqlError(`${name} out of range`);
        return v!;
      });
    }
    if (from.type === 'text' && INT_TYPES.has(to)) {
      // int*in changed in PostgreSQL 16 (hex, octal, binary, `_`): compiled for 12 to 15 only
      const version = this.auth.serverVersionNum;
      if (version === null || version < 120000 || version >= 160000) {
        throw new NotCompilable('text to integer on an unknown server version');
      }
      return strict(to, [from], ([v]) => intIn(v as string, to as IntType));
    }
    if (to === 'text') {
      if (from.type === 'varchar') return { ...from, type: 'text' };
      if (from.type === 'uuid') return strict('text', [from], ([v]) => uuidOut(v as string));
      if (from.type === 'bool') return strict('text', [from], ([v]) => boolOut(v as boolean));
      if (INT_TYPES.has(from.type)) return strict('text', [from], ([v]) => (v as bigint).toString());
    }
    if (from.type === 'text') {
      if (to === 'uuid') return strict('uuid', [from], ([v]) => uuidIn(v as string));
      if (to === 'bool') return strict('bool', [from], ([v]) => boolIn(v as string));
      if ((to === 'json' || to === 'jsonb') && isClaimsSetting(expr)) {
        return { type: to, run: (ctx) => ctx.parsedClaims() }; // the setting is always set
      }
    }
    throw new NotCompilable(`cast ${from.type} to ${to}`);
  }

  private arrow(op: '->' | '->>', left: PolicyExpr, right: PolicyExpr): Node {
    const doc = this.compile(left);
    if (doc.type !== 'json' && doc.type !== 'jsonb') throw new NotCompilable(`${op} on ${doc.type}`);
    if (
      right.kind !== 'cast' ||
      right.type !== 'text' ||
      right.expr.kind !== 'literal' ||
      !right.expr.isString
    ) {
      throw new NotCompilable(`${op} with a key that is not a text constant`);
    }
    const key = right.expr.text;
    const isJsonb = doc.type === 'jsonb';
    if (op === '->') {
      return strict(doc.type, [doc], ([v]) => {
        const member = jsonMember((v as Json).json, key);
        return member === undefined ? null : { json: member };
      });
    }
    return strict('text', [doc], ([v]) => {
      const member = jsonMember((v as Json).json, key);
      return member === undefined ? null : jsonFieldText(member, isJsonb);
    });
  }

  private compare(op: string, leftExpr: PolicyExpr, rightExpr: PolicyExpr): Node {
    const left = this.compile(leftExpr);
    const right = this.compile(rightExpr);
    const test = comparison(op, left.type, right.type);
    return strict('bool', [left, right], ([a, b]) => test(a!, b!));
  }

  private arrayOp(op: string, quantifier: 'ANY' | 'ALL', leftExpr: PolicyExpr, items: PolicyExpr[]): Node {
    if (!((op === '=' && quantifier === 'ANY') || (op === '<>' && quantifier === 'ALL'))) {
      throw new NotCompilable(`${op} ${quantifier}`);
    }
    const left = this.compile(leftExpr);
    const elements = items.map((i) => this.compile(i));
    if (elements.length === 0 || elements.some((el) => el.constant === undefined)) {
      throw new NotCompilable('array of non-constants');
    }
    const tests = elements.map((el) => comparison(op, left.type, el.type));
    const values = elements.map((el) => el.constant!.value);
    const decisive = quantifier === 'ANY'; // ANY: one true decides; ALL: one false decides
    const run = (ctx: EvalContext): Value => {
      const v = left.run(ctx);
      if (v === null) return null;
      let sawNull = false;
      for (let i = 0; i < values.length; i++) {
        const item = values[i]!;
        if (item === null) sawNull = true;
        else if (tests[i]!(v, item) === decisive) return decisive;
      }
      return sawNull ? null : !decisive;
    };
    if (left.constant !== undefined) return constant('bool', run(undefined as never));
    return { type: 'bool', run };
  }

  /** `IS [NOT] DISTINCT FROM`: not strict (NULL is a value here); folded only when both sides are constants. */
  private distinct(leftExpr: PolicyExpr, rightExpr: PolicyExpr, negated: boolean): Node {
    const left = this.compile(leftExpr);
    const right = this.compile(rightExpr);
    const equal = comparison('=', left.type, right.type);
    const fn = (a: Value, b: Value): boolean => {
      const isDistinct = a === null || b === null ? a !== b : !equal(a, b);
      return negated ? !isDistinct : isDistinct;
    };
    if (left.constant !== undefined && right.constant !== undefined) {
      return constant('bool', fn(left.constant.value, right.constant.value));
    }
    return { type: 'bool', run: (ctx) => fn(left.run(ctx), right.run(ctx)) };
  }

  /**
   * `COALESCE`: the first non-NULL argument, later ones not evaluated. Folded as the planner does:
   * NULL constants dropped, nothing after a non-NULL constant, which is the result if it comes first.
   */
  private coalesce(argExprs: PolicyExpr[]): Node {
    const args = argExprs.map((a) => this.compile(a));
    const type = args[0]?.type;
    if (type === undefined || args.some((a) => a.type !== type))
      throw new NotCompilable('COALESCE of mixed types');
    const kept: Node[] = [];
    for (const arg of args) {
      if (arg.constant === undefined) {
        kept.push(arg);
      } else if (arg.constant.value !== null) {
        if (kept.length === 0) return arg;
        kept.push(arg);
        break;
      }
    }
    if (kept.length === 0) return constant(type, null);
    return {
      type,
      run: (ctx) => {
        for (const arg of kept) {
          const v = arg.run(ctx);
          if (v !== null) return v;
        }
        return null;
      },
    };
  }

  private test(arg: Node, test: 'null' | 'true' | 'false' | 'unknown', negated: boolean): Node {
    if (test !== 'null' && arg.type !== 'bool') throw new NotCompilable('IS TRUE on a non-boolean');
    const fn = (v: Value): boolean => {
      const hit = test === 'null' || test === 'unknown' ? v === null : v === (test === 'true');
      return negated ? !hit : hit;
    };
    if (arg.constant !== undefined) return constant('bool', fn(arg.constant.value));
    return { type: 'bool', run: (ctx) => fn(arg.run(ctx)) };
  }

  /** AND/OR with the planner's folding of constant arguments, then left-to-right short-circuit. */
  private bool(kind: 'and' | 'or', args: Node[]): Node {
    const decisive = kind === 'or'; // the value that decides the whole expression
    const kept: Node[] = [];
    let hasNull = false;
    for (const arg of args) {
      if (arg.constant === undefined) kept.push(arg);
      else if (arg.constant.value === decisive) return constant('bool', decisive);
      else if (arg.constant.value === null) hasNull = true;
    }
    if (hasNull) kept.push(constant('bool', null));
    if (kept.length === 0) return constant('bool', !decisive);
    if (kept.length === 1) return kept[0]!;
    return {
      type: 'bool',
      run: (ctx) => {
        let sawNull = false;
        for (const arg of kept) {
          const v = arg.run(ctx);
          if (v === decisive) return decisive;
          if (v === null) sawNull = true;
        }
        return sawNull ? null : !decisive;
      },
    };
  }
}
