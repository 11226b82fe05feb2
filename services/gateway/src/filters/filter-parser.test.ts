import { FilterError, MAX_IN_VALUES, parseFilter, type FilterCondition } from './filter-parser';

function filterError(filter: string): FilterError {
  try {
    parseFilter(filter);
  } catch (err) {
    expect(err).toBeInstanceOf(FilterError);
    return err as FilterError;
  }
  throw new Error(`expected a FilterError for ${filter}`);
}

function one(filter: string): FilterCondition {
  const conditions = parseFilter(filter);
  expect(conditions).toHaveLength(1);
  return conditions[0]!;
}

describe('parseFilter: no filter', () => {
  it.each([null, undefined, '', '   ', '\t'])('returns no conditions for %p', (filter) => {
    expect(parseFilter(filter)).toEqual([]);
  });
});

describe('parseFilter: operators', () => {
  it.each(['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'like', 'ilike', 'match', 'imatch', 'isdistinct'])(
    'parses column=%s.value',
    (op) => {
      expect(one(`col=${op}.v1`)).toMatchObject({
        column: 'col',
        op,
        negate: false,
        value: 'v1',
        values: [],
      });
    },
  );

  it('parses eq without a pattern', () => {
    expect(one('id=eq.5')).toEqual({
      column: 'id',
      op: 'eq',
      negate: false,
      value: '5',
      values: [],
      pattern: null,
    });
  });

  it('takes the value as everything after the first dot, with `.` `=` `:` kept', () => {
    expect(one('v=eq.1.5').value).toBe('1.5');
    expect(one('v=eq.a=b').value).toBe('a=b');
    expect(one('at=eq.2021-01-01T10:00:00Z').value).toBe('2021-01-01T10:00:00Z');
  });

  it('splits on the first `=` only', () => {
    expect(one('v=eq.x=y=z')).toMatchObject({ column: 'v', value: 'x=y=z' });
  });

  it('trims whitespace around the column and the operator part', () => {
    expect(one('  id = eq.5 ')).toMatchObject({ column: 'id', op: 'eq', value: '5' });
  });

  it.each(['null', 'true', 'false', 'unknown', 'NULL', 'True'])('parses is.%s (case-insensitive)', (v) => {
    expect(one(`c=is.${v}`)).toMatchObject({ op: 'is', value: v.toLowerCase() });
  });

  it('refuses other `is` values', () => {
    const err = filterError('c=is.maybe');
    expect(err.params).toEqual(['is', 'maybe']);
    expect(err.detail).toBe('`is` takes null, true, false or unknown');
  });
});

describe('parseFilter: not. prefix', () => {
  it('sets negate', () => {
    expect(one('status=not.eq.done')).toMatchObject({ op: 'eq', negate: true, value: 'done' });
    expect(one('status=not.is.null')).toMatchObject({ op: 'is', negate: true, value: 'null' });
  });

  it('combines with in', () => {
    expect(one('status=not.in.(a,b)')).toMatchObject({ op: 'in', negate: true, values: ['a', 'b'] });
  });

  it('refuses `not.` without an operator', () => {
    expect(filterError('status=not.').params).toEqual(['status=not.']);
  });
});

describe('parseFilter: AND with commas', () => {
  it('parses several conditions', () => {
    const conditions = parseFilter('a=eq.1,b=gt.2, c=is.null');
    expect(conditions.map((c) => [c.column, c.op, c.value])).toEqual([
      ['a', 'eq', '1'],
      ['b', 'gt', '2'],
      ['c', 'is', 'null'],
    ]);
  });

  it('does not split inside an in-list', () => {
    const conditions = parseFilter('id=in.(1,2,3),name=eq.x');
    expect(conditions).toHaveLength(2);
    expect(conditions[0]!.values).toEqual(['1', '2', '3']);
    expect(conditions[1]!.value).toBe('x');
  });
});

describe('parseFilter: quoting and escapes', () => {
  it('unquotes PostgREST double quotes holding `,` `(` `)`', () => {
    expect(one('name=eq."a,b"').value).toBe('a,b');
    expect(one('name=eq."f(x)"').value).toBe('f(x)');
    expect(parseFilter('name=eq."a,b",id=eq.1').map((c) => c.value)).toEqual(['a,b', '1']);
  });

  it('unescapes \\" and \\\\ inside quotes', () => {
    expect(one('name=eq."say \\"hi\\""').value).toBe('say "hi"');
    expect(one('name=eq."back\\\\slash"').value).toBe('back\\slash');
  });

  it('reads `\\,` in an unquoted value as a comma', () => {
    expect(one('area=eq.Oslo\\, Norway').value).toBe('Oslo, Norway');
    expect(parseFilter('area=eq.a\\,b,id=eq.2').map((c) => c.value)).toEqual(['a,b', '2']);
  });

  it('keeps a quoted empty string as a value', () => {
    expect(one('name=eq.""').value).toBe('');
  });
});

describe('parseFilter: in', () => {
  it('parses a parenthesised list', () => {
    expect(one('id=in.(1,2,3)')).toMatchObject({ op: 'in', value: '', values: ['1', '2', '3'] });
  });

  it('trims items and unquotes quoted ones', () => {
    expect(one('name=in.( a , "b,c" ,"d(e)")').values).toEqual(['a', 'b,c', 'd(e)']);
  });

  it(`accepts ${MAX_IN_VALUES} values`, () => {
    const items = Array.from({ length: MAX_IN_VALUES }, (_, i) => String(i));
    expect(one(`id=in.(${items.join(',')})`).values).toHaveLength(MAX_IN_VALUES);
  });

  it(`refuses more than ${MAX_IN_VALUES} values`, () => {
    const items = Array.from({ length: MAX_IN_VALUES + 1 }, (_, i) => String(i));
    const err = filterError(`id=in.(${items.join(',')})`);
    expect(err.params[0]).toBe('in');
    expect(err.detail).toBe(`\`in\` takes at most ${MAX_IN_VALUES} values, got ${MAX_IN_VALUES + 1}`);
  });

  it.each(['id=in.1,2', 'id=in.(1,2', 'id=in.1)', 'id=in.'])('refuses %p without parentheses', (filter) => {
    const err = filterError(filter);
    expect(err.params[0]).toBe('in');
  });

  it('refuses an empty list', () => {
    expect(filterError('id=in.()').detail).toBe("empty item in 'id=in.()'");
  });
});

describe('parseFilter: errors', () => {
  it('names an unknown operator and its value like the reference server', () => {
    const err = filterError('name=like2.x');
    expect(err.message).toBe('Error parsing `filter` params: ["like2","x"]');
    expect(err.params).toEqual(['like2', 'x']);
    expect(err.name).toBe('FilterError');
  });

  it('reports the whole part when an unknown operator has no dot', () => {
    expect(filterError('name=zz').message).toBe('Error parsing `filter` params: ["name=zz"]');
  });

  it('refuses a known operator without a value', () => {
    expect(filterError('name=eq').params).toEqual(['eq', '']);
  });

  it('refuses a part without `=`', () => {
    expect(filterError('name').params).toEqual(['name']);
    expect(filterError('=eq.1').params).toEqual(['=eq.1']);
  });

  it('refuses the README dot form, which has no `=`', () => {
    expect(filterError('id.eq.99').detail).toContain("missing '='");
  });

  it('refuses an empty value', () => {
    const err = filterError('name=eq.');
    expect(err.params).toEqual(['eq', '']);
    expect(err.detail).toBe("missing value in 'name=eq.'");
  });

  it('refuses the whole filter when one condition is bad', () => {
    expect(filterError('a=eq.1,b=zz.2').params).toEqual(['zz', '2']);
  });

  it('is case-sensitive about operators', () => {
    expect(filterError('a=EQ.1').params).toEqual(['EQ', '1']);
  });
});

describe('parseFilter: like and ilike patterns', () => {
  const likes = (pattern: string, text: string, op = 'like'): boolean =>
    one(`c=${op}.${pattern}`).pattern!.test(text);

  it('anchors the pattern', () => {
    expect(likes('bob', 'bob')).toBe(true);
    expect(likes('bob', 'bobby')).toBe(false);
    expect(likes('bob', 'a bob')).toBe(false);
  });

  it('reads `%` and `*` as any run and `_` as one character', () => {
    expect(likes('bo%', 'bobby')).toBe(true);
    expect(likes('*by', 'bobby')).toBe(true);
    expect(likes('b_b', 'bob')).toBe(true);
    expect(likes('b_b', 'bb')).toBe(false);
    expect(likes('a%', 'a\nb')).toBe(true);
  });

  it('treats regex specials literally', () => {
    expect(likes('a.c', 'abc')).toBe(false);
    expect(likes('a.c', 'a.c')).toBe(true);
    expect(likes('(x)+[y]$', '(x)+[y]$')).toBe(true);
  });

  it('refuses a pattern ending in the escape character, as PostgreSQL does', () => {
    const err = filterError('c=like.100\\');
    expect(err.params).toEqual(['like', '100\\']);
    expect(err.detail).toBe('LIKE pattern must not end with escape character');
  });

  it('refuses overlong patterns', () => {
    expect(filterError(`c=ilike.${'%'.repeat(513)}`).detail).toBe('pattern longer than 512 characters');
    expect(one(`c=like.${'%'.repeat(512)}`).pattern!.test('x')).toBe(true);
  });

  it('honours backslash escapes of `%` and `_`', () => {
    expect(likes('100\\%', '100%')).toBe(true);
    expect(likes('100\\%', '1000')).toBe(false);
    expect(likes('a\\_b', 'axb')).toBe(false);
  });

  it('is case-sensitive for like and not for ilike', () => {
    expect(likes('bob%', 'Bobby')).toBe(false);
    expect(likes('bob%', 'Bobby', 'ilike')).toBe(true);
  });
});

describe('parseFilter: match and imatch patterns', () => {
  it('compiles an unanchored regular expression', () => {
    expect(one('c=match.^ab+c').pattern!.test('abbbc')).toBe(true);
    expect(one('c=match.b').pattern!.test('abc')).toBe(true);
    expect(one('c=match.^B').pattern!.test('bob')).toBe(false);
    expect(one('c=imatch.^B').pattern!.test('bob')).toBe(true);
  });

  it.each(['(a+)+', '(a*)*$', '(a|b+)*', '(x+y?){2}', '(?:a+)+', '([a-z]+)*', '((a+))+$', '(a|a)+$'])(
    'accepts the nested quantifier %p, which RE2 runs in linear time',
    (pattern) => {
      expect(one(`c=match.${pattern}`).pattern).not.toBeNull();
    },
  );

  it('rejects an empty item in an in list', () => {
    expect(() => parseFilter('id=in.(1,,2)')).toThrow(FilterError);
  });

  it('accepts a comma in a pattern when quoted or written as \\,', () => {
    expect(one('c=match."^a{1,3}$"').pattern!.test('aa')).toBe(true);
    expect(parseFilter('c=match.^a{1\\,3}$')[0]!.value).toBe('^a{1,3}$');
  });

  it('refuses back-references, naming them', () => {
    const err = filterError('c=match.(a)\\1');
    expect(err.params).toEqual(['match', '(a)\\1']);
    expect(err.detail).toBe('back-references (\\1 to \\9) are not supported in patterns (they run on RE2)');
  });

  it('refuses overlong and over-complex patterns', () => {
    expect(filterError(`c=match.${'a'.repeat(513)}`).detail).toBe('pattern longer than 512 characters');
    expect(filterError(`c=match.${'a'.repeat(512)}`).detail).toMatch(/^pattern too complex: /);
    expect(one(`c=match.${'a'.repeat(100)}`).pattern!.test('a'.repeat(100))).toBe(true);
  });

  it('refuses invalid regular expressions', () => {
    expect(filterError('c=imatch.[a-').detail).toMatch(/^invalid regular expression: /);
  });
});

describe('parseFilter: long hostile filter text is read in one pass', () => {
  const n = 100_000;

  it('unquotes a long run of escapes', () => {
    expect(one(`c=eq."${'\\"'.repeat(n)}"`).value).toBe('"'.repeat(n));
    expect(one(`c=eq.${'\\,'.repeat(n)}`).value).toBe(','.repeat(n));
  });

  it('splits many conditions and deep parentheses', () => {
    expect(parseFilter('a=eq.1,'.repeat(n / 10))).toHaveLength(n / 10);
    expect(one(`c=in.(${'('.repeat(n)})`).values).toEqual(['('.repeat(n)]);
    expect(one(`c=eq.${'"'.repeat(n)},`).value).toBe('"'.repeat(n - 2));
  });

  it('counts a long list once and refuses it', () => {
    expect(filterError(`c=in.(${'x,'.repeat(n)}x)`).detail).toBe(
      `\`in\` takes at most ${MAX_IN_VALUES} values, got ${n + 1}`,
    );
  });
});
