/**
 * The building blocks of compiled policy predicates: SQL values as JavaScript holds them (uuid as
 * lower-case hex, integers as BigInt, JSON wrapped so that JSON null is not SQL NULL), the per-call
 * context with what is derived from the claims, nodes with their constant folding, and the
 * comparisons and column reads that follow PostgreSQL's rules. policy-compiler.ts assembles them.
 */
import type { JsonValue, Row } from '@walcast/protocol';

import { claimText, isUnsendable, jwtSettings } from './jwt-settings';
import { SqlError, boolIn, hasUnparsableString, jsonFieldText, uuidIn } from './sql-values';

export type SqlType =
  | 'uuid'
  | 'text'
  | 'varchar'
  | 'int2'
  | 'int4'
  | 'int8'
  | 'bool'
  | 'json'
  | 'jsonb'
  | 'opaque';
/** A JSON value inside SQL (so that JSON null is not SQL NULL). */
export interface Json {
  json: unknown;
}
export type Value = string | bigint | boolean | Json | null;

/** What a predicate derives from one claims object; cached per object (claims are never mutated). */
export interface ClaimsFacts {
  /** `request.jwt.claim.sub` and `request.jwt.claim.role`. */
  sub: string;
  role: string;
  /** Either setting holds U+0000, so it cannot be sent. */
  unsendable: boolean;
  /** PostgreSQL's JSON parser refuses the claims document. */
  unparsable: boolean;
  /** `request.jwt.claims`, made on first use. */
  text?: string;
  /** `auth.uid()`'s value or error, made on first use. */
  uid?: { value: Value } | { error: SqlError };
}

const claimsFacts = new WeakMap<object, ClaimsFacts>();

export function factsOf(claims: Readonly<Record<string, unknown>>): ClaimsFacts {
  let facts = claimsFacts.get(claims);
  if (facts === undefined) {
    const sub = claimText(claims['sub']);
    const role = claimText(claims['role']);
    facts = {
      sub,
      role,
      unsendable: isUnsendable(sub) || isUnsendable(role),
      unparsable: isUnparsable(claims),
    };
    claimsFacts.set(claims, facts);
  }
  return facts;
}

/**
 * Whether PostgreSQL cannot parse the claims document. Nesting too deep for JavaScript's stack
 * (tens of thousands of levels) is taken as unparsable: PostgreSQL's parser stops far earlier
 * ("stack depth limit exceeded"). Between the two limits verdicts may differ; tokens are not
 * nested like that.
 */
function isUnparsable(claims: Readonly<Record<string, unknown>>): boolean {
  try {
    return hasUnparsableString(claims);
  } catch (err) {
    if (err instanceof RangeError) return true;
    throw err;
  }
}

/** Per-call state: the row and the claims' facts. */
export class EvalContext {
  constructor(
    readonly row: Row,
    readonly claims: Readonly<Record<string, unknown>>,
    readonly facts: ClaimsFacts,
  ) {}

  /** `request.jwt.claims`. */
  get claimsText(): string {
    return (this.facts.text ??= jwtSettings(this.claims).claims);
  }

  /** The claims document as `::json`/`::jsonb` reads it; raises as PostgreSQL's parser would. */
  parsedClaims(): Json {
    if (this.facts.unparsable) throw new SqlError('unsupported Unicode escape sequence in claims');
    return { json: this.claims };
  }
}

export interface Node {
  type: SqlType;
  /** Set when the planner folds this node to a constant. */
  constant?: { value: Value };
  run(ctx: EvalContext): Value;
}

/** Thrown while compiling: the expression is outside the subset. */
export class NotCompilable extends Error {}

export const INT_TYPES = new Set<SqlType>(['int2', 'int4', 'int8']);
export type IntType = 'int2' | 'int4' | 'int8';
export function constant(type: SqlType, value: Value): Node {
  return { type, constant: { value }, run: () => value };
}

/**
 * A strict operation over `args`: NULL if any argument is NULL (all are evaluated first, in
 * order), folded when all are constants or one is a NULL constant, as the planner does.
 */
export function strict(type: SqlType, args: Node[], fn: (values: Value[]) => Value): Node {
  if (args.some((a) => a.constant?.value === null)) return constant(type, null);
  const [first, second] = args;
  let run: (ctx: EvalContext) => Value;
  if (args.length === 1) {
    run = (ctx) => {
      const a = first!.run(ctx);
      return a === null ? null : fn([a]);
    };
  } else if (args.length === 2) {
    run = (ctx) => {
      const a = first!.run(ctx);
      const b = second!.run(ctx); // evaluated even when a is NULL: it may raise
      return a === null || b === null ? null : fn([a, b]);
    };
  } else {
    throw new NotCompilable('more than two arguments');
  }
  if (args.every((a) => a.constant !== undefined)) return constant(type, run(undefined as never));
  return { type, run };
}
export function hasOwn(row: Row, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(row, key);
}

/** The SQL value of a row's column (absent and JSON null are NULL), as `jsonb_populate_record` reads it. */
export function columnValue(value: JsonValue | undefined, type: SqlType): Value {
  if (value === undefined || value === null) return null;
  switch (type) {
    case 'uuid':
      return uuidIn(String(value));
    case 'text':
    case 'varchar':
      return typeof value === 'string' ? value : jsonFieldText(value, true);
    case 'int2':
    case 'int4':
    case 'int8':
      if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
      if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) return BigInt(value);
      throw new SqlError(`invalid input syntax for type ${type}`);
    case 'bool':
      return typeof value === 'boolean' ? value : boolIn(String(value));
    default:
      return { json: value }; // only ever tested for NULL
  }
}
/** The comparison `op` between non-NULL values of the two types; NotCompilable where PostgreSQL has no such operator or its result depends on the collation. */
export function comparison(op: string, left: SqlType, right: SqlType): (a: Value, b: Value) => boolean {
  const bothInts = INT_TYPES.has(left) && INT_TYPES.has(right);
  if (!bothInts && left !== right) throw new NotCompilable(`${left} ${op} ${right}`);
  const ordered = bothInts || left === 'uuid';
  if (!ordered && left !== 'text' && left !== 'bool') throw new NotCompilable(`${op} on ${left}`);
  switch (op) {
    case '=':
      return (a, b) => a === b;
    case '<>':
      return (a, b) => a !== b;
  }
  if (!ordered) throw new NotCompilable(`${op} on ${left}`);
  switch (op) {
    case '<':
      return (a, b) => (a as bigint | string) < (b as bigint | string);
    case '<=':
      return (a, b) => (a as bigint | string) <= (b as bigint | string);
    case '>':
      return (a, b) => (a as bigint | string) > (b as bigint | string);
    case '>=':
      return (a, b) => (a as bigint | string) >= (b as bigint | string);
  }
  throw new NotCompilable(`operator ${op}`);
}
