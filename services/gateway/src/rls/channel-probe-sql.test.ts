import {
  classifyDbError,
  contextProblem,
  isUnknownRole,
  readBatchSql,
  READ_SELECT_INDEX,
  setContextSql,
  writeBatchSql,
  type ChannelContext,
} from './channel-probe-sql';

const context: ChannelContext = {
  role: 'authenticated',
  topic: "ok:it's",
  claimsJson: '{"sub":"u","a":"x\\"y"}',
  sub: 'u',
  claimRole: 'authenticated',
  headersJson: '{}',
};
const probes = [
  { extension: 'broadcast' as const, id: '11111111-1111-1111-1111-111111111111' },
  { extension: 'presence' as const, id: '22222222-2222-2222-2222-222222222222' },
];

describe('the check statements', () => {
  it('set every value as a quoted literal, the role last, all local to the transaction', () => {
    expect(setContextSql({ ...context, role: 'we"ird\'; drop table x; --' })).toBe(
      "select set_config('realtime.topic', 'ok:it''s', true), " +
        `set_config('request.jwt.claims',  E'{"sub":"u","a":"x\\\\"y"}', true), ` +
        "set_config('request.jwt.claim.sub', 'u', true), " +
        "set_config('request.jwt.claim.role', 'authenticated', true), " +
        "set_config('request.headers', '{}', true), " +
        `set_config('role', 'we"ird''; drop table x; --', true)`,
    );
  });

  it('read: begin, probes, context, the select at READ_SELECT_INDEX, rollback', () => {
    const statements = readBatchSql(context, probes).split(';\n');
    expect(statements).toHaveLength(5);
    expect(statements[0]).toBe('begin');
    expect(statements[1]).toBe(
      "insert into realtime.messages (topic, extension, id) values ('ok:it''s', 'broadcast', " +
        "'11111111-1111-1111-1111-111111111111'::uuid), ('ok:it''s', 'presence', '22222222-2222-2222-2222-222222222222'::uuid)",
    );
    expect(statements[2]).toBe(setContextSql(context));
    expect(statements[READ_SELECT_INDEX]).toBe(
      "select id::text as id from realtime.messages where id in ('11111111-1111-1111-1111-111111111111'::uuid, " +
        "'22222222-2222-2222-2222-222222222222'::uuid)",
    );
    expect(statements[4]).toBe('rollback');
  });

  it('write: the context, then one insert per extension in a savepoint, rollback', () => {
    const statements = writeBatchSql(context, probes).split(';\n');
    expect(statements[0]).toBe('begin');
    expect(statements[1]).toBe(setContextSql(context));
    expect(statements.slice(2, 5)).toEqual([
      'savepoint walcast_write',
      expect.stringMatching(/^insert into realtime\.messages .*'broadcast'/),
      'release savepoint walcast_write',
    ]);
    expect(statements[6]).toMatch(/'presence'/);
    expect(statements.at(-1)).toBe('rollback');
  });
});

describe('contextProblem', () => {
  it('refuses the role "none" (it would mean the pool\'s own role) and U+0000 anywhere', () => {
    expect(contextProblem(context)).toBeNull();
    expect(contextProblem({ ...context, role: 'none' })).toMatch(/"none"/);
    expect(contextProblem({ ...context, role: 'NONE' })).toBeNull();
    expect(contextProblem({ ...context, topic: 'a\u0000b' })).toMatch(/topic .*U\+0000/);
    expect(contextProblem({ ...context, sub: '\u0000' })).toMatch(/sub/);
  });
});

describe('classifyDbError', () => {
  it('tells a database that did not answer from a statement PostgreSQL refused', () => {
    const pg = (code: string): Error => Object.assign(new Error('x'), { code });
    expect(classifyDbError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(
      'unavailable',
    );
    expect(classifyDbError(new Error('timeout exceeded when trying to connect'))).toBe('unavailable');
    expect(['57014', '57P01', '08006', '53300', '58030'].map((c) => classifyDbError(pg(c)))).toEqual(
      Array(5).fill('unavailable'),
    );
    expect(classifyDbError(pg('42501'))).toBe('refused');
    expect(['P0001', '22012', '42P01', '22023'].map((c) => classifyDbError(pg(c)))).toEqual(
      Array(4).fill('sql-error'),
    );
  });

  it('recognises set_config of a role that does not exist', () => {
    const err = Object.assign(new Error('role "ghost" does not exist'), { code: '22023' });
    expect(isUnknownRole(err)).toBe(true);
    expect(isUnknownRole(Object.assign(new Error('other'), { code: '22023' }))).toBe(false);
  });
});
