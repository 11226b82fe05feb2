// Inputs are real PostgreSQL 15 text outputs (`select <value>::text`) under the walsender session
// settings: DateStyle=ISO, MDY; TimeZone=UTC; IntervalStyle=postgres; bytea_output=hex;
// extra_float_digits=3. Other time zones were used only to produce the non-UTC offsets.
import { builtinType } from './pg-types';
import { TYPE_CATALOG_SQL, TypeRegistry, typeRegistrationFromRow } from './type-registry';
import { decodeValue, typeName } from './value-decoder';

const OID = {
  bool: 16,
  bytea: 17,
  char: 18,
  name: 19,
  int8: 20,
  int2: 21,
  int2vector: 22,
  int4: 23,
  text: 25,
  oid: 26,
  oidvector: 30,
  json: 114,
  point: 600,
  box: 603,
  float4: 700,
  float8: 701,
  money: 790,
  inet: 869,
  _bool: 1000,
  _bytea: 1001,
  _int2vector: 1006,
  _int4: 1007,
  _text: 1009,
  _box: 1020,
  _float8: 1022,
  bpchar: 1042,
  varchar: 1043,
  date: 1082,
  time: 1083,
  timestamp: 1114,
  _timestamp: 1115,
  timestamptz: 1184,
  _timestamptz: 1185,
  interval: 1186,
  _numeric: 1231,
  timetz: 1266,
  numeric: 1700,
  uuid: 2950,
  jsonb: 3802,
  _jsonb: 3807,
  _json: 199,
  int4range: 3904,
  _int4range: 3905,
  int4multirange: 4451,
} as const;

const registry = new TypeRegistry();

/** Decodes, checks the result parses as JSON, and returns the exact text. */
function decode(oid: number, text: string, reg: TypeRegistry = registry): string {
  const json = decodeValue(reg, oid, text);
  expect(() => JSON.parse(json) as unknown).not.toThrow();
  return json;
}

function parsed(oid: number, text: string, reg: TypeRegistry = registry): unknown {
  return JSON.parse(decode(oid, text, reg));
}

describe('decodeValue: numbers', () => {
  it.each([
    [OID.int2, '-32768'],
    [OID.int4, '0'],
    [OID.int4, '-42'],
    [OID.int8, '9223372036854775807'],
    [OID.int8, '-9223372036854775808'],
    [OID.oid, '4294967295'],
    [OID.numeric, '123456789012345678901234567890.000000001'],
    [OID.numeric, '1.50'],
    [OID.numeric, '0.000'],
    [OID.numeric, '1000000000000000000000000000000'],
    [OID.float8, '1e+20'],
    [OID.float8, '-1.5e-10'],
    [OID.float8, '1e-05'],
    [OID.float8, '-0'],
    [OID.float8, '0.1'],
    [OID.float4, '1.2345679e+11'],
  ])('type %i keeps %s digit for digit', (oid, text) => {
    expect(decode(oid, text)).toBe(text);
  });

  it.each([
    [OID.numeric, 'NaN'],
    [OID.numeric, 'Infinity'],
    [OID.numeric, '-Infinity'],
    [OID.float8, 'NaN'],
    [OID.float4, 'Infinity'],
    [OID.float8, '-Infinity'],
  ])('type %i turns %s into null', (oid, text) => {
    expect(decode(oid, text)).toBe('null');
  });

  it.each(['', '-', '01', '1.', '.5', '1e', '1e+', '+1', '1.5.5', '0x10', ' 1', '1 ', 'Infinityx', '1_000'])(
    'falls back to a JSON string for the non-number %j',
    (text) => {
      expect(decode(OID.numeric, text)).toBe(JSON.stringify(text));
    },
  );
});

describe('decodeValue: scalars', () => {
  it('converts bool t/f', () => {
    expect(decode(OID.bool, 't')).toBe('true');
    expect(decode(OID.bool, 'f')).toBe('false');
    expect(decode(OID.bool, 'x')).toBe('"x"');
  });

  it('keeps json and jsonb verbatim', () => {
    expect(decode(OID.jsonb, '{"a": 1, "b": [1, 2]}')).toBe('{"a": 1, "b": [1, 2]}');
    expect(decode(OID.json, '{"a": 1,  "b":[1,2]}')).toBe('{"a": 1,  "b":[1,2]}');
    expect(decode(OID.json, '{"a":\n 1}')).toBe('{"a":\n 1}');
    expect(parsed(OID.jsonb, '"s"')).toBe('s');
    expect(parsed(OID.jsonb, 'null')).toBeNull();
  });

  it.each([
    [OID.text, 'plain'],
    [OID.text, 'quote " backslash \\ tab \t newline \n ünï 😀'],
    [OID.varchar, ''],
    [OID.bpchar, 'ab  '],
    [OID.name, 'pg_class'],
    [OID.char, 'x'],
    [OID.uuid, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'],
    [OID.date, '2021-01-01'],
    [OID.date, 'infinity'],
    [OID.time, '12:34:56.789'],
    [OID.timetz, '12:34:56+05:30'],
    [OID.interval, '1 day 02:03:04'],
    [OID.money, '$12.34'],
    [OID.inet, '192.168.0.1/24'],
    [OID.int4range, '[1,3)'],
    [OID.int4multirange, '{[1,3),[5,7)}'],
    [OID.point, '(1,2)'],
    [OID.box, '(1,1),(0,0)'],
    [99999, 'unknown type'],
  ])('type %i becomes the JSON string of %j', (oid, text) => {
    expect(decode(oid, text)).toBe(JSON.stringify(text));
  });

  it('writes bytea as hex without \\x', () => {
    expect(decode(OID.bytea, '\\x0102ff')).toBe('"0102ff"');
    expect(decode(OID.bytea, '\\x')).toBe('""');
    expect(decode(OID.bytea, 'escape\\000format')).toBe(JSON.stringify('escape\\000format'));
  });

  it('writes int2vector and oidvector as arrays', () => {
    expect(decode(OID.int2vector, '1 2 3')).toBe('[1,2,3]');
    expect(decode(OID.oidvector, '1 2')).toBe('[1,2]');
    expect(decode(OID.int2vector, '')).toBe('[]');
    expect(decode(OID._int2vector, '{"1 2"}')).toBe('[[1,2]]');
  });
});

describe('decodeValue: timestamps', () => {
  it.each([
    ['2021-01-01 12:00:00.123456', '"2021-01-01T12:00:00.123456"'],
    ['2021-01-01 12:00:00', '"2021-01-01T12:00:00"'],
    ['12021-01-01 12:00:00', '"12021-01-01T12:00:00"'],
    ['infinity', '"infinity"'],
    ['-infinity', '"-infinity"'],
    ['0044-03-15 12:00:00.25 BC', '"0044-03-15T12:00:00.25 BC"'],
  ])('timestamp %s → %s', (text, json) => {
    expect(decode(OID.timestamp, text)).toBe(json);
  });

  it.each([
    ['2021-01-01 12:00:00.123456+00', '"2021-01-01T12:00:00.123456+00:00"'],
    ['2021-01-01 12:00:00+00', '"2021-01-01T12:00:00+00:00"'],
    ['2021-01-01 17:30:00.5+05:30', '"2021-01-01T17:30:00.5+05:30"'],
    ['2021-01-01 07:00:00-05', '"2021-01-01T07:00:00-05:00"'],
    ['1800-01-01 12:19:32+00:19:32', '"1800-01-01T12:19:32+00:19:32"'],
    ['infinity', '"infinity"'],
    ['-infinity', '"-infinity"'],
    ['0044-03-15 12:00:00+00 BC', '"0044-03-15T12:00:00+00:00 BC"'],
    ['1800-01-01 12:00:00+00:19:32 BC', '"1800-01-01T12:00:00+00:19:32 BC"'],
    ['2021-01-01 12:00:00', '"2021-01-01 12:00:00"'],
    ['12021-01-01 12:00:00+00', '"12021-01-01T12:00:00+00:00"'],
    ['2021-01-01 "2:00:00+00', '"2021-01-01T\\"2:00:00+00:00"'],
  ])('timestamptz %s → %s', (text, json) => {
    expect(decode(OID.timestamptz, text)).toBe(json);
  });
});

describe('decodeValue: arrays', () => {
  it('converts elements by the element type', () => {
    expect(decode(OID._int4, '{1,NULL,3}')).toBe('[1,null,3]');
    expect(decode(OID._bool, '{t,f,NULL}')).toBe('[true,false,null]');
    expect(decode(OID._numeric, '{1.5,2.25,NULL}')).toBe('[1.5,2.25,null]');
    expect(decode(OID._float8, '{1e+20,NaN,-Infinity}')).toBe('[1e+20,null,null]');
    expect(decode(OID._text, '{a,b}')).toBe('["a","b"]');
    expect(decode(OID._int4, '{}')).toBe('[]');
  });

  it('handles nesting and bounds decoration', () => {
    expect(decode(OID._int4, '{{1,2},{3,4}}')).toBe('[[1,2],[3,4]]');
    expect(decode(OID._text, '{{a,b},{c,d}}')).toBe('[["a","b"],["c","d"]]');
    expect(decode(OID._int4, '[0:1]={1,2}')).toBe('[1,2]');
    expect(decode(OID._int4, '[0:1][1:2]={{1,2},{3,4}}')).toBe('[[1,2],[3,4]]');
  });

  it('unquotes and unescapes text elements', () => {
    const text = '{"a\\"b","c\\\\d","e,f","{g}","h i",ünï,"","NULL","null",NULL,"tab\there","nl\nx"}';
    expect(parsed(OID._text, text)).toEqual([
      'a"b',
      'c\\d',
      'e,f',
      '{g}',
      'h i',
      'ünï',
      '',
      'NULL',
      'null',
      null,
      'tab\there',
      'nl\nx',
    ]);
  });

  it('accepts array_in syntax: spaces, escapes in unquoted elements, any-case NULL', () => {
    expect(parsed(OID._text, ' { a b , \\NULL, null,nUlL , x\\ ,"q" } ')).toEqual([
      'a b',
      'NULL',
      null,
      null,
      'x ',
      'q',
    ]);
  });

  it('splits box arrays on ;', () => {
    expect(parsed(OID._box, '{(1,1),(0,0);(3,3),(2,2)}')).toEqual(['(1,1),(0,0)', '(3,3),(2,2)']);
  });

  it('nests json and jsonb elements', () => {
    const jsonb = '{"{\\"a\\": 1}","[1, \\"x\\"]","null","\\"s\\"",3.10,NULL}';
    expect(decode(OID._jsonb, jsonb)).toBe('[{"a": 1},[1, "x"],null,"s",3.10,null]');
    expect(parsed(OID._json, '{"{\\"a\\":  1}"}')).toEqual([{ a: 1 }]);
  });

  it('converts timestamp, bytea and range elements', () => {
    expect(decode(OID._timestamptz, '{"2021-01-01 12:00:00+00"}')).toBe('["2021-01-01T12:00:00+00:00"]');
    expect(decode(OID._timestamp, '{"2021-01-01 12:00:00"}')).toBe('["2021-01-01T12:00:00"]');
    expect(decode(OID._bytea, '{"\\\\x01","\\\\x"}')).toBe('["01",""]');
    expect(decode(OID._int4range, '{"[1,3)"}')).toBe('["[1,3)"]');
  });

  it.each(['{1,2', '{1,,2}', '{"a}', '{a"b}', '{1}}', '[0:1]{1,2}', '{{1},', '1,2', '{a\\'])(
    'falls back to a JSON string for the malformed literal %j',
    (text) => {
      expect(decode(OID._int4, text)).toBe(JSON.stringify(text));
    },
  );
});

describe('TypeRegistry and user types', () => {
  const user = new TypeRegistry();
  user.register({
    oid: 50001,
    name: '_mood',
    typtype: 'b',
    category: 'A',
    elementOid: 50000,
    delimiter: ',',
  });
  user.register({ oid: 50000, name: 'mood', typtype: 'e', category: 'E', delimiter: ',' });
  user.register({ oid: 50010, name: 'positive', typtype: 'd', category: 'N', baseOid: 50011 });
  user.register({ oid: 50011, name: 'small_positive', typtype: 'd', category: 'N', baseOid: OID.int8 });
  user.register({ oid: 50012, name: '_positive', typtype: 'b', category: 'A', elementOid: 50010 });
  user.register({ oid: 50020, name: 'pair', typtype: 'c', category: 'C' });
  user.register({ oid: 50021, name: '_pair', typtype: 'b', category: 'A', elementOid: 50020 });
  user.register({ oid: 50030, name: 'int_list', typtype: 'd', category: 'A', baseOid: OID._int4 });
  user.register({ oid: 50040, name: 'boxy', typtype: 'd', category: 'G', baseOid: OID.box, delimiter: ';' });
  user.register({ oid: 50041, name: '_boxy', typtype: 'b', category: 'A', elementOid: 50040 });
  user.register({ oid: 50050, name: 'dangling', typtype: 'd', category: 'N', baseOid: 59999 });

  it('converts enums, domains over domains, composites and their arrays', () => {
    expect(decode(50000, 'happy', user)).toBe('"happy"');
    expect(decode(50001, '{happy,sad,NULL}', user)).toBe('["happy","sad",null]');
    expect(decode(50010, '9223372036854775807', user)).toBe('9223372036854775807');
    expect(decode(50012, '{1,2}', user)).toBe('[1,2]');
    expect(decode(50020, '(1,"x y")', user)).toBe('"(1,\\"x y\\")"');
    expect(parsed(50021, '{"(1,x)","(2,\\"y z\\")"}', user)).toEqual(['(1,x)', '(2,"y z")']);
    expect(decode(50030, '{1,2}', user)).toBe('[1,2]');
    expect(parsed(50041, '{(1,1),(0,0);(3,3),(2,2)}', user)).toEqual(['(1,1),(0,0)', '(3,3),(2,2)']);
    expect(decode(50050, '5', user)).toBe('"5"');
  });

  it('names types by typname, unknown ones by OID', () => {
    expect(typeName(user, OID.int4)).toBe('int4');
    expect(typeName(user, OID._text)).toBe('_text');
    expect(typeName(user, 50010)).toBe('positive');
    expect(typeName(user, 12345678)).toBe('12345678');
  });

  it('reports unknown OIDs, including missing element and base types', () => {
    expect(user.has(OID.int4)).toBe(true);
    expect(user.has(50000)).toBe(true);
    expect(user.has(59999)).toBe(false);
    expect(user.unknownOids([OID.int4, 50001, 50012, 60000, 60000, 50050]).sort()).toEqual([59999, 60000]);
  });

  it('never replaces built-in types and re-resolves after a late registration', () => {
    const reg = new TypeRegistry();
    reg.register({ oid: OID.int4, name: 'evil', typtype: 'e', category: 'E' });
    expect(typeName(reg, OID.int4)).toBe('int4');
    reg.register({ oid: 70001, name: '_later', typtype: 'b', category: 'A', elementOid: 70000 });
    expect(decode(70001, '{1}', reg)).toBe('["1"]');
    reg.register({ oid: 70000, name: 'later', typtype: 'd', category: 'N', baseOid: OID.numeric });
    expect(decode(70001, '{1}', reg)).toBe('[1]');
  });

  it('maps catalog rows to registrations', () => {
    expect(TYPE_CATALOG_SQL).toContain('$1::oid[]');
    expect(
      typeRegistrationFromRow({
        oid: '50001',
        typname: '_mood',
        typtype: 'b',
        typcategory: 'A',
        typelem: 50000,
        typbasetype: 0,
        typdelim: ',',
      }),
    ).toEqual({ oid: 50001, name: '_mood', typtype: 'b', category: 'A', elementOid: 50000, delimiter: ',' });
    expect(() =>
      typeRegistrationFromRow({
        oid: 'x',
        typname: 'bad',
        typtype: 'b',
        typcategory: 'U',
        typelem: 0,
        typbasetype: 0,
        typdelim: ',',
      }),
    ).toThrow(TypeError);
  });

  it('has a kind for every built-in', () => {
    expect(builtinType(OID.jsonb)).toEqual({ oid: OID.jsonb, name: 'jsonb', kind: 'json' });
    expect(builtinType(OID._box)).toEqual({
      oid: OID._box,
      name: '_box',
      kind: 'array',
      elementOid: 603,
      delimiter: ';',
    });
    expect(builtinType(16384)).toBeUndefined();
  });
});
