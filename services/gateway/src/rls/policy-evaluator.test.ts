import { combinedPolicySql, quoteIdent, quoteLiteral } from './policy-evaluator';

describe('SQL quoting for the batched statements', () => {
  it('quotes literals safely with or without standard_conforming_strings', () => {
    expect(quoteLiteral('plain')).toBe("'plain'");
    expect(quoteLiteral("it's")).toBe("'it''s'");
    // a backslash (JSON escapes in claims) makes it an E'' string with the backslash doubled
    expect(quoteLiteral('{"a":"x\\"y"}')).toBe(` E'{"a":"x\\\\"y"}'`);
    expect(quoteLiteral("\\'")).toBe(` E'\\\\'''`);
  });

  it('quotes identifiers, doubling embedded quotes', () => {
    expect(quoteIdent('todos')).toBe('"todos"');
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
  });

  it('combines policies as PostgreSQL does: any permissive, every restrictive, NULL as false', () => {
    expect(combinedPolicySql({ permissive: [], restrictive: ['true'] })).toBe('false');
    expect(combinedPolicySql({ permissive: ['a', 'b'], restrictive: ['c'] })).toBe(
      '(((a) OR (b)) IS TRUE) AND ((c) IS TRUE)',
    );
  });
});
