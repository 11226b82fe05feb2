/**
 * fast-check arbitraries for everything a client can throw at a gateway: sockets of both
 * serializers (and bad `vsn`s), legacy topics in every form with every filter operator and
 * pathological like/match patterns, modern joins with many `postgres_changes` bindings, deep and
 * huge values, wrong types, broken JSON, binary frames, and tokens good and bad.
 *
 * Sizes are bounded by {@link FuzzLimits}, high enough that a short run still reaches the known
 * attack shapes (nesting thousands deep, patterns of a hundred wildcards, thousands of bindings
 * and of joins, megabyte topics). fast-check's bias makes the extremes of each range common.
 */
import fc from 'fast-check';

import type { Action, Blob, BindingSpec, BindingsSpec, Repeat, SocketSession, TopicSpec } from './shapes';
import type { TokenSpec } from './tokens';

export interface FuzzLimits {
  /** Deepest nesting of a generated JSON value. */
  depth: number;
  /** Longest repeated string (topics, values), in characters. */
  length: number;
  /** Most elements of a generated flat array (in place of `postgres_changes`, too). */
  width: number;
  /** Most wildcards in a like/match pattern. */
  wildcards: number;
  /** Most `postgres_changes` bindings in one join. */
  bindings: number;
  /** Most joins sent by one `many-joins` action. */
  joins: number;
  /** Most actions per socket and sockets per run. */
  actions: number;
  sockets: number;
}

export const DEFAULT_LIMITS: FuzzLimits = {
  depth: 20_000,
  length: 2_000_000,
  width: 100_000,
  wildcards: 200,
  bindings: 12_000,
  joins: 12_000,
  actions: 8,
  sockets: 3,
};

/** The fuzzed table (see the harness): `items (id int primary key, name text, n int)`. */
const SCHEMAS = ['public', 'PUBLIC', 'pg_catalog', '', '*', 'pub%6Cic', '%zz', 'publ\u0131c', 'a:b', 'x'];
const TABLES = ['items', 'Items', '', '*', 'items;drop', 'it%3Aems', 'ïtems', 'users', 'nope'];
const COLUMNS = ['name', 'id', 'n', 'nope', '', 'na me', 'id,id', '"name"'];
const OPS = [
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
];
const EVENTS = ['*', 'INSERT', 'UPDATE', 'DELETE', 'insert', 'TRUNCATE', '', 'SELECT'];

const smallText = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.constantFrom(':', '::', '=', '.', ',', '(', ')', '"', '\\', '%', '*', '\u0000', '\ud800', 'realtime:'),
);

const repeatOf = (maxTimes: number): fc.Arbitrary<Repeat> =>
  fc.record({
    head: fc.constantFrom('', 'realtime:', 'realtime:public:', 'realtime:public:items:name=eq.'),
    unit: fc.constantFrom('a', 'é', '%', ':', '.', '\u{1F600}', '(.*)', 'x'),
    times: fc.integer({ min: 0, max: maxTimes }),
    tail: fc.constantFrom('', 'x', ':', '=eq.1'),
  });

/** like/ilike/match/imatch patterns that backtrack on a long name, and ordinary ones. */
function patternValue(limits: FuzzLimits): fc.Arbitrary<Repeat> {
  return fc.record({
    head: fc.constantFrom('', '^', 'a', '('),
    unit: fc.constantFrom('%', '_', '%_', '%a', '(.*)*', '(a+)+', '(a|a)*', '.*', '(a*)*', '\\', '['),
    times: fc.integer({ min: 1, max: limits.wildcards }),
    tail: fc.constantFrom('x', '!', '$', '', '%', 'b$'),
  });
}

function filterText(limits: FuzzLimits): fc.Arbitrary<string> {
  const condition = fc
    .tuple(
      fc.constantFrom(...COLUMNS),
      fc.boolean(),
      fc.oneof(fc.constantFrom(...OPS), smallText),
      fc.oneof(
        smallText,
        fc.integer().map(String),
        fc.constantFrom('null', 'true', 'unknown', '(1,2,3)', '("a,b",c)', '"a\\"b"', 'a\\,b', '()'),
        fc.array(fc.integer({ min: 0, max: 999 }), { maxLength: 150 }).map((xs) => `(${xs.join(',')})`),
        patternValue(limits).map((r) => r.head + r.unit.repeat(Math.min(r.times, 40)) + r.tail),
      ),
    )
    .map(([column, not, op, value]) => `${column}=${not ? 'not.' : ''}${op}.${value}`);
  return fc.oneof(
    condition,
    fc.array(condition, { minLength: 2, maxLength: 4 }).map((cs) => cs.join(',')),
    smallText,
  );
}

function blob(limits: FuzzLimits): fc.Arbitrary<Blob> {
  return fc.oneof(
    {
      weight: 3,
      arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'json' as const, value })),
    },
    {
      weight: 2,
      arbitrary: fc
        .integer({ min: 1, max: limits.depth })
        .map((depth) => ({ kind: 'deep-array' as const, depth })),
    },
    {
      weight: 2,
      arbitrary: fc
        .integer({ min: 1, max: limits.depth })
        .map((depth) => ({ kind: 'deep-object' as const, depth })),
    },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 0, max: limits.width })
        .map((length) => ({ kind: 'wide-array' as const, length })),
    },
    { weight: 1, arbitrary: repeatOf(limits.length).map((text) => ({ kind: 'string' as const, text })) },
  );
}

/** Legacy topics in every form, odd ones, and megabyte ones. */
function topic(limits: FuzzLimits): fc.Arbitrary<TopicSpec> {
  const text = (a: fc.Arbitrary<string>): fc.Arbitrary<TopicSpec> =>
    a.map((t) => ({ kind: 'text' as const, text: t }));
  const schema = fc.oneof(fc.constantFrom(...SCHEMAS), smallText);
  const table = fc.oneof(fc.constantFrom(...TABLES), smallText);
  return fc.oneof(
    {
      weight: 1,
      arbitrary: text(
        fc.constantFrom('realtime:*', 'realtime:', 'realtime', 'phoenix', '', 'realtime:public:items'),
      ),
    },
    { weight: 1, arbitrary: text(schema.map((s) => `realtime:${s}`)) },
    { weight: 2, arbitrary: text(fc.tuple(schema, table).map(([s, t]) => `realtime:${s}:${t}`)) },
    {
      weight: 4,
      arbitrary: text(fc.tuple(table, filterText(limits)).map(([t, f]) => `realtime:public:${t}:${f}`)),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(
          fc.constantFrom('name=like.', 'name=ilike.', 'name=match.', 'name=imatch.', 'name=not.like.'),
          patternValue(limits),
        )
        .map(([prefix, r]) => ({
          kind: 'repeat' as const,
          text: { ...r, head: `realtime:public:items:${prefix}${r.head}` },
        })),
    },
    { weight: 1, arbitrary: text(smallText) },
    { weight: 1, arbitrary: repeatOf(limits.length).map((r) => ({ kind: 'repeat' as const, text: r })) },
  );
}

/** A `since`: a position (valid, or old, or ahead of anything), a near miss, or any JSON value. */
function since(): fc.Arbitrary<unknown> {
  const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9A-Fa-f]{${n}}$`));
  return fc.oneof(
    { weight: 3, arbitrary: fc.tuple(hex(16), hex(8)).map(([lsn, index]) => `${lsn}-${index}`) },
    { weight: 1, arbitrary: fc.constantFrom('0000000000000000-00000000', 'FFFFFFFFFFFFFFFF-FFFFFFFF') },
    { weight: 1, arbitrary: fc.tuple(hex(15), hex(9)).map(([lsn, index]) => `${lsn}-${index}`) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
  );
}

function binding(limits: FuzzLimits): fc.Arbitrary<BindingSpec> {
  const loose = fc.oneof(fc.constantFrom(...EVENTS, 'public', 'items'), fc.jsonValue({ maxDepth: 1 }));
  return fc.record(
    {
      event: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...EVENTS) }, loose),
      schema: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SCHEMAS) }, loose),
      table: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...TABLES) }, loose),
      filter: fc.oneof({ weight: 4, arbitrary: filterText(limits) }, loose),
      select: fc.oneof(
        fc.array(fc.constantFrom(...COLUMNS), { maxLength: 4 }),
        fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 3 }),
        loose,
      ),
      since: since(),
      deep: fc.record({
        field: fc.constantFrom(
          'event' as const,
          'schema' as const,
          'table' as const,
          'filter' as const,
          'select' as const,
          'since' as const,
        ),
        blob: blob(limits),
      }),
      repeatFilter: fc.record({
        column: fc.constantFrom('name', 'id'),
        op: fc.constantFrom('like', 'ilike', 'match', 'imatch', 'in', 'eq'),
        value: patternValue(limits),
      }),
      extra: blob(limits),
    },
    { requiredKeys: [] },
  );
}

function bindings(limits: FuzzLimits): fc.Arbitrary<BindingsSpec> {
  return fc.record({
    list: fc.array(binding(limits), { maxLength: 3 }),
    copies: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: limits.bindings })),
    template: binding(limits),
    distinctFilters: fc.boolean(),
  });
}

export const tokenSpec: fc.Arbitrary<TokenSpec> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'valid' as const }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      { kind: 'expired' as const },
      { kind: 'wrong-key' as const },
      { kind: 'no-role' as const },
      { kind: 'alg-none' as const },
      { kind: 'opaque' as const },
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .oneof(smallText, fc.constantFrom('a.b.c', 'Bearer x', '..', 'e30.e30.'))
      .map((text) => ({ kind: 'garbage' as const, text })),
  },
);

export function action(limits: FuzzLimits): fc.Arbitrary<Action> {
  const t = topic(limits);
  const maybeToken = fc.option(tokenSpec, { nil: null, freq: 2 });
  const join = fc.record({
    kind: fc.constant('join-legacy' as const),
    topic: t,
    token: maybeToken,
    extra: fc.option(blob(limits), { nil: null, freq: 2 }),
    since: fc.option(since(), { nil: undefined, freq: 3 }),
  });
  const modern = fc.record({
    kind: fc.constant('join-modern' as const),
    topic: t,
    bindings: bindings(limits),
    token: maybeToken,
    configExtra: fc.option(
      fc.record({
        at: fc.constantFrom(
          'config' as const,
          'postgres_changes' as const,
          'broadcast' as const,
          'presence' as const,
          'private' as const,
        ),
        blob: blob(limits),
      }),
      { nil: null, freq: 2 },
    ),
  });
  const simple: fc.Arbitrary<Action> = fc.oneof(
    { weight: 6, arbitrary: join },
    { weight: 6, arbitrary: modern },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('access-token' as const), topic: t, token: tokenSpec }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('leave' as const), topic: t }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'heartbeat' as const }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('many-joins' as const),
        count: fc.integer({ min: 1, max: limits.joins }),
        modern: fc.boolean(),
        distinct: fc.constantFrom('filter' as const, 'table' as const, 'schema' as const),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('event' as const),
        topic: t,
        event: fc.oneof(
          fc.constantFrom('broadcast', 'presence', 'phx_reply', 'heartbeat', 'access_token', 'phx_join'),
          smallText,
        ),
        payload: blob(limits),
      }),
    },
    {
      weight: 2,
      arbitrary: fc
        .oneof(
          fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 0, maxLength: 6 }),
          fc.record(
            {
              topic: fc.jsonValue({ maxDepth: 1 }),
              event: fc.jsonValue({ maxDepth: 1 }),
              payload: fc.jsonValue({ maxDepth: 2 }),
              ref: fc.jsonValue({ maxDepth: 1 }),
              join_ref: fc.jsonValue({ maxDepth: 1 }),
              __proto__: fc.jsonValue({ maxDepth: 1 }),
            },
            { requiredKeys: [] },
          ),
          fc.jsonValue({ maxDepth: 2 }),
        )
        .map((value) => ({ kind: 'odd-frame' as const, value })),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('raw-text' as const),
        text: fc.string({ unit: 'binary', maxLength: 40 }),
      }),
    },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('big-text' as const), blob: blob(limits) }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('kind3' as const),
        topic: t,
        event: smallText,
        meta: fc.oneof(fc.constant(''), fc.constant('{"persist":true}'), smallText),
        enc: fc.oneof(fc.constantFrom(0, 1, 1), fc.integer({ min: 2, max: 255 })),
        payload: fc.oneof(
          fc.jsonValue({ maxDepth: 3 }).map((v) => [...Buffer.from(JSON.stringify(v) ?? 'null')]),
          fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
        ),
        lie: fc.option(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 0, max: 255 })), {
          freq: 4,
        }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('binary' as const),
        bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }),
      }),
    },
  );
  return fc.oneof(
    { weight: 9, arbitrary: simple },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('broken-json' as const),
        of: fc.oneof(join, modern),
        cut: fc.nat(400),
      }),
    },
  );
}

export function socketSession(limits: FuzzLimits): fc.Arbitrary<SocketSession> {
  return fc.record({
    vsn: fc.oneof(
      { weight: 10, arbitrary: fc.constantFrom('1.0.0', '2.0.0') },
      fc.constantFrom('3.0.0', '', '1'),
    ),
    token: fc.oneof(
      { weight: 8, arbitrary: fc.constant({ kind: 'valid' as const }) },
      tokenSpec,
      fc.constant(null),
    ),
    actions: fc.array(action(limits), { minLength: 1, maxLength: limits.actions }),
  });
}

/** What one property run throws at the gateway: a few sockets, side by side. */
export function fuzzRun(limits: FuzzLimits = DEFAULT_LIMITS): fc.Arbitrary<SocketSession[]> {
  return fc.array(socketSession(limits), { minLength: 1, maxLength: limits.sockets });
}
