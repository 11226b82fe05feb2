/**
 * PostgreSQL's built-in types, keyed by OID, with the conversion each needs to become JSON.
 *
 * This file is mostly a generated data table (hence its length). The rows were read from a
 * PostgreSQL 15 server with the query below and pasted in; OIDs below 16384 in `pg_catalog` are
 * fixed across servers and versions (PostgreSQL never renumbers them).
 *
 *   select t.oid, t.typname, t.typtype, t.typcategory, t.typelem,
 *          t.typsubscript = 'array_subscript_handler'::regproc as is_array,
 *          coalesce(e.typdelim, t.typdelim) as delim
 *   from pg_type t left join pg_type e on e.oid = t.typelem
 *   where t.oid < 16384 and t.typnamespace = 'pg_catalog'::regnamespace
 *     and t.typtype in ('b', 'r', 'm') and (t.typelem = 0 or e.typtype <> 'c')
 *   order by t.oid
 *
 * Kinds were assigned as: `is_array` → `array` (delimiter = the element type's `typdelim`, listed
 * only when it is not `,`), int2vector/oidvector → `vector`, the numeric, bool, json, bytea and
 * timestamp OIDs by hand, everything else → `text`. Pseudo-types and catalog row types are left
 * out: no table column can have them.
 */

/**
 * How a type's text output becomes JSON:
 * - `number`: a JSON number with PostgreSQL's exact digits; NaN and ±Infinity become `null`.
 * - `bool`: `t`/`f` → `true`/`false`.
 * - `json`: the text is already JSON and is used verbatim.
 * - `timestamp` / `timestamptz`: an ISO-8601 string (`T` separator, offset as `±HH:MM`).
 * - `bytea`: the hex digits as a string, without the `\x` prefix.
 * - `array`: a JSON array, each element converted by the element type.
 * - `vector`: int2vector/oidvector (space-separated), a JSON array converted by the element type.
 * - `text`: a JSON string of the text, unchanged.
 */
export type ValueKind =
  | 'number'
  | 'bool'
  | 'json'
  | 'timestamp'
  | 'timestamptz'
  | 'bytea'
  | 'array'
  | 'vector'
  | 'text';

/** What the value decoder needs to know about one type. Instances are shared and must not be mutated. */
export interface PgTypeInfo {
  oid: number;
  /** `pg_type.typname`, e.g. `int4`, `_text`, or a user type's name. */
  name: string;
  /** How values are converted. */
  kind: ValueKind;
  /** For `array` and `vector` kinds: the element type's OID. */
  elementOid?: number;
  /** For `array` kinds: the element separator in the array literal (`;` for box arrays); `,` when absent. */
  delimiter?: string;
}

type BuiltinRow = readonly [
  oid: number,
  name: string,
  kind: ValueKind,
  elementOid?: number,
  delimiter?: string,
];

// prettier-ignore
const BUILTIN_ROWS: readonly BuiltinRow[] = [
  [16, 'bool', 'bool'],
  [17, 'bytea', 'bytea'],
  [18, 'char', 'text'],
  [19, 'name', 'text'],
  [20, 'int8', 'number'],
  [21, 'int2', 'number'],
  [22, 'int2vector', 'vector', 21],
  [23, 'int4', 'number'],
  [24, 'regproc', 'text'],
  [25, 'text', 'text'],
  [26, 'oid', 'number'],
  [27, 'tid', 'text'],
  [28, 'xid', 'text'],
  [29, 'cid', 'text'],
  [30, 'oidvector', 'vector', 26],
  [114, 'json', 'json'],
  [142, 'xml', 'text'],
  [143, '_xml', 'array', 142],
  [194, 'pg_node_tree', 'text'],
  [199, '_json', 'array', 114],
  [271, '_xid8', 'array', 5069],
  [600, 'point', 'text'],
  [601, 'lseg', 'text'],
  [602, 'path', 'text'],
  [603, 'box', 'text'],
  [604, 'polygon', 'text'],
  [628, 'line', 'text'],
  [629, '_line', 'array', 628],
  [650, 'cidr', 'text'],
  [651, '_cidr', 'array', 650],
  [700, 'float4', 'number'],
  [701, 'float8', 'number'],
  [718, 'circle', 'text'],
  [719, '_circle', 'array', 718],
  [774, 'macaddr8', 'text'],
  [775, '_macaddr8', 'array', 774],
  [790, 'money', 'text'],
  [791, '_money', 'array', 790],
  [829, 'macaddr', 'text'],
  [869, 'inet', 'text'],
  [1000, '_bool', 'array', 16],
  [1001, '_bytea', 'array', 17],
  [1002, '_char', 'array', 18],
  [1003, '_name', 'array', 19],
  [1005, '_int2', 'array', 21],
  [1006, '_int2vector', 'array', 22],
  [1007, '_int4', 'array', 23],
  [1008, '_regproc', 'array', 24],
  [1009, '_text', 'array', 25],
  [1010, '_tid', 'array', 27],
  [1011, '_xid', 'array', 28],
  [1012, '_cid', 'array', 29],
  [1013, '_oidvector', 'array', 30],
  [1014, '_bpchar', 'array', 1042],
  [1015, '_varchar', 'array', 1043],
  [1016, '_int8', 'array', 20],
  [1017, '_point', 'array', 600],
  [1018, '_lseg', 'array', 601],
  [1019, '_path', 'array', 602],
  [1020, '_box', 'array', 603, ';'],
  [1021, '_float4', 'array', 700],
  [1022, '_float8', 'array', 701],
  [1027, '_polygon', 'array', 604],
  [1028, '_oid', 'array', 26],
  [1033, 'aclitem', 'text'],
  [1034, '_aclitem', 'array', 1033],
  [1040, '_macaddr', 'array', 829],
  [1041, '_inet', 'array', 869],
  [1042, 'bpchar', 'text'],
  [1043, 'varchar', 'text'],
  [1082, 'date', 'text'],
  [1083, 'time', 'text'],
  [1114, 'timestamp', 'timestamp'],
  [1115, '_timestamp', 'array', 1114],
  [1182, '_date', 'array', 1082],
  [1183, '_time', 'array', 1083],
  [1184, 'timestamptz', 'timestamptz'],
  [1185, '_timestamptz', 'array', 1184],
  [1186, 'interval', 'text'],
  [1187, '_interval', 'array', 1186],
  [1231, '_numeric', 'array', 1700],
  [1263, '_cstring', 'array', 2275],
  [1266, 'timetz', 'text'],
  [1270, '_timetz', 'array', 1266],
  [1560, 'bit', 'text'],
  [1561, '_bit', 'array', 1560],
  [1562, 'varbit', 'text'],
  [1563, '_varbit', 'array', 1562],
  [1700, 'numeric', 'number'],
  [1790, 'refcursor', 'text'],
  [2201, '_refcursor', 'array', 1790],
  [2202, 'regprocedure', 'text'],
  [2203, 'regoper', 'text'],
  [2204, 'regoperator', 'text'],
  [2205, 'regclass', 'text'],
  [2206, 'regtype', 'text'],
  [2207, '_regprocedure', 'array', 2202],
  [2208, '_regoper', 'array', 2203],
  [2209, '_regoperator', 'array', 2204],
  [2210, '_regclass', 'array', 2205],
  [2211, '_regtype', 'array', 2206],
  [2949, '_txid_snapshot', 'array', 2970],
  [2950, 'uuid', 'text'],
  [2951, '_uuid', 'array', 2950],
  [2970, 'txid_snapshot', 'text'],
  [3220, 'pg_lsn', 'text'],
  [3221, '_pg_lsn', 'array', 3220],
  [3361, 'pg_ndistinct', 'text'],
  [3402, 'pg_dependencies', 'text'],
  [3614, 'tsvector', 'text'],
  [3615, 'tsquery', 'text'],
  [3642, 'gtsvector', 'text'],
  [3643, '_tsvector', 'array', 3614],
  [3644, '_gtsvector', 'array', 3642],
  [3645, '_tsquery', 'array', 3615],
  [3734, 'regconfig', 'text'],
  [3735, '_regconfig', 'array', 3734],
  [3769, 'regdictionary', 'text'],
  [3770, '_regdictionary', 'array', 3769],
  [3802, 'jsonb', 'json'],
  [3807, '_jsonb', 'array', 3802],
  [3904, 'int4range', 'text'],
  [3905, '_int4range', 'array', 3904],
  [3906, 'numrange', 'text'],
  [3907, '_numrange', 'array', 3906],
  [3908, 'tsrange', 'text'],
  [3909, '_tsrange', 'array', 3908],
  [3910, 'tstzrange', 'text'],
  [3911, '_tstzrange', 'array', 3910],
  [3912, 'daterange', 'text'],
  [3913, '_daterange', 'array', 3912],
  [3926, 'int8range', 'text'],
  [3927, '_int8range', 'array', 3926],
  [4072, 'jsonpath', 'text'],
  [4073, '_jsonpath', 'array', 4072],
  [4089, 'regnamespace', 'text'],
  [4090, '_regnamespace', 'array', 4089],
  [4096, 'regrole', 'text'],
  [4097, '_regrole', 'array', 4096],
  [4191, 'regcollation', 'text'],
  [4192, '_regcollation', 'array', 4191],
  [4451, 'int4multirange', 'text'],
  [4532, 'nummultirange', 'text'],
  [4533, 'tsmultirange', 'text'],
  [4534, 'tstzmultirange', 'text'],
  [4535, 'datemultirange', 'text'],
  [4536, 'int8multirange', 'text'],
  [4600, 'pg_brin_bloom_summary', 'text'],
  [4601, 'pg_brin_minmax_multi_summary', 'text'],
  [5017, 'pg_mcv_list', 'text'],
  [5038, 'pg_snapshot', 'text'],
  [5039, '_pg_snapshot', 'array', 5038],
  [5069, 'xid8', 'text'],
  [6150, '_int4multirange', 'array', 4451],
  [6151, '_nummultirange', 'array', 4532],
  [6152, '_tsmultirange', 'array', 4533],
  [6153, '_tstzmultirange', 'array', 4534],
  [6155, '_datemultirange', 'array', 4535],
  [6157, '_int8multirange', 'array', 4536],
];

const BUILTINS: ReadonlyMap<number, PgTypeInfo> = new Map(
  BUILTIN_ROWS.map(([oid, name, kind, elementOid, delimiter]): [number, PgTypeInfo] => {
    const info: PgTypeInfo = { oid, name, kind };
    if (elementOid !== undefined) info.elementOid = elementOid;
    if (delimiter !== undefined) info.delimiter = delimiter;
    return [oid, Object.freeze(info)];
  }),
);

/**
 * The built-in type with this OID, or `undefined` if the OID is not a built-in base, array, range
 * or multirange type (user types, domains, enums and composites are learned by `TypeRegistry`).
 */
export function builtinType(oid: number): PgTypeInfo | undefined {
  return BUILTINS.get(oid);
}

/** Every built-in type, in OID order. */
export function builtinTypes(): IterableIterator<PgTypeInfo> {
  return BUILTINS.values();
}
