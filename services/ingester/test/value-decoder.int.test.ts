// Compares decodeValue against PostgreSQL's own to_jsonb(), the conversion Supabase Realtime
// uses (docs/protocol.md E4), on a private PostgreSQL started for this file (initdb into a temp dir,
// as user postgres when run as root). The documented differences are the last test.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client } from 'pg';

import { TYPE_CATALOG_SQL, TypeRegistry, typeRegistrationFromRow } from '../src/changes/type-registry';
import type { TypeCatalogRow } from '../src/changes/type-registry';
import { decodeValue, typeName } from '../src/changes/value-decoder';

const BIN_DIR = process.env.PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin';
const SESSION_SETTINGS =
  "set DateStyle = 'ISO, MDY'; set TimeZone = 'UTC'; set IntervalStyle = 'postgres'; " +
  'set bytea_output = hex; set extra_float_digits = 3';

interface Server {
  dataDir: string;
  port: number;
}

function asPostgres(command: string, args: string[]): string {
  const isRoot = process.getuid?.() === 0;
  const [file, argv] = isRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function startPostgres(): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), 'walcast-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(dataDir, uid, gid);
  }
  const port = await freePort();
  asPostgres(join(BIN_DIR, 'initdb'), [
    '-D',
    join(dataDir, 'data'),
    '-U',
    'postgres',
    '-A',
    'trust',
    '--no-sync',
  ]);
  const options = `-p ${port} -k ${dataDir} -c listen_addresses=127.0.0.1 -c fsync=off -c TimeZone=UTC`;
  asPostgres(join(BIN_DIR, 'pg_ctl'), [
    '-D',
    join(dataDir, 'data'),
    '-l',
    join(dataDir, 'log'),
    '-o',
    options,
    '-w',
    'start',
  ]);
  return { dataDir, port };
}

function stopPostgres(server: Server): void {
  asPostgres(join(BIN_DIR, 'pg_ctl'), ['-D', join(server.dataDir, 'data'), '-m', 'fast', '-w', 'stop']);
  rmSync(server.dataDir, { recursive: true, force: true });
}

/** SQL expressions; each one's output text goes through decodeValue and is compared with `to_jsonb(expr)`. */
const VALUES = [
  `1::int2`,
  `'-2147483648'::int4`,
  `9223372036854775807::int8`,
  `'1.50'::numeric`,
  `'123456789012345678901234567890.000000001'::numeric`,
  `'1e20'::float8`,
  `'-1.5e-10'::float8`,
  `'0.1'::float4`,

  `true`,
  `false`,
  `'text "quoted" \\ ünï'::text`,
  `'v'::varchar(3)`,
  `'ab'::char(4)`,
  `'n'::name`,
  `'x'::"char"`,
  `gen_random_uuid()`,
  `'{"b": [1, 2.50], "a": null}'::jsonb`,
  `'{"a":  1}'::json`,
  `'2021-01-01 12:00:00.123456'::timestamp`,
  `'2021-01-01 12:00:00'::timestamp`,
  `'2021-01-01 12:00:00.5+05:30'::timestamptz`,
  `'infinity'::timestamptz`,
  `'2021-01-01'::date`,
  `'12:34:56'::time`,
  `'12:34:56+05:30'::timetz`,
  `'1 day 02:03:04'::interval`,
  `'12.34'::money`,
  `'192.168.0.1/24'::inet`,
  `'08:00:2b:01:02:03'::macaddr`,
  `'[1,3)'::int4range`,
  `'{[1,3),[5,7)}'::int4multirange`,
  `'(1,2)'::point`,
  `B'101'::bit(3)`,
  `'a & b'::tsquery`,
  `'1 2'::int2vector`,
  `'{1,NULL,3}'::int4[]`,
  `'[0:1][1:2]={{1,2},{3,4}}'::int8[]`,
  `array['a"b', 'c\\d', 'e,f', '{g}', 'h i', 'ünï', '', 'NULL', null]::text[]`,
  `'{t,f,NULL}'::bool[]`,
  `array['{"a": 1}'::jsonb, 'null', '"s"', '3.10', null]`,
  `array['{"a":  [1]}'::json]`,
  `array[1.5, 2.25, null]::numeric[]`,
  `array['2021-01-01 12:00:00'::timestamp]`,
  `array['2021-01-01 12:00:00+00'::timestamptz]`,
  `'{}'::text[]`,
  `array['[1,3)'::int4range]`,
  `array['(0,0),(1,1)'::box, '(2,2),(3,3)'::box]`,
  `array['12:00:00'::time]`,
  `'mood_happy'::text::mood`,
  `array['happy', 'sad']::mood[]`,
  `7::positive`,
  `array[1, 2]::positive[]`,
  `array['(1,2),(3,4)'::boxy]`,
];

const USER_TYPES = ['mood', '_mood', 'small_positive', 'positive', '_positive', 'boxy', '_boxy', 'pair'];

describe('decodeValue against to_jsonb', () => {
  let server: Server;
  let client: Client;
  const registry = new TypeRegistry();
  const userOids = new Map<string, number>();

  beforeAll(async () => {
    if (!existsSync(join(BIN_DIR, 'initdb'))) throw new Error(`no initdb in ${BIN_DIR} (set PG_BIN_DIR)`);
    server = await startPostgres();
    client = new Client({ host: '127.0.0.1', port: server.port, user: 'postgres', database: 'postgres' });
    await client.connect();
    await client.query(SESSION_SETTINGS);
    await client.query(`create type mood as enum ('mood_happy', 'happy', 'sad');
      create domain small_positive as int8 check (value > 0);
      create domain positive as small_positive;
      create domain boxy as box;
      create type pair as (a int, b text)`);
    const { rows } = await client.query<{ oid: number; typname: string }>(
      'select oid, typname from pg_type where typname = any($1)',
      [USER_TYPES],
    );
    for (const row of rows) userOids.set(row.typname, Number(row.oid));
    const unknown = registry.unknownOids(
      ['_mood', '_positive', '_boxy', 'pair'].map((n) => userOids.get(n) ?? 0),
    );
    const catalog = await client.query<TypeCatalogRow>(TYPE_CATALOG_SQL, [unknown]);
    for (const row of catalog.rows) registry.register(typeRegistrationFromRow(row));
  });

  afterAll(async () => {
    await client?.end();
    if (server) stopPostgres(server);
  });

  it('learns user types, their element and base types, with one catalog query', () => {
    expect(userOids.size).toBe(USER_TYPES.length);
    expect(registry.unknownOids([...userOids.values()])).toEqual([]);
    for (const [name, oid] of userOids) expect(typeName(registry, oid)).toBe(name);
  });

  /** The value's type, its output-function text (what pgoutput sends) and `to_jsonb(value)::text`. */
  async function outputs(expr: string): Promise<{ oid: number; text: string; json: string }> {
    const { rows } = await client.query<{ oid: string; text: string; json: string }>({
      text: `select pg_typeof(v)::oid as oid, v as text, to_jsonb(v)::text as json from (select ${expr} as v) s`,
      types: { getTypeParser: () => (value: string) => value },
    });
    const row = rows[0];
    if (row === undefined) throw new Error(`no row for ${expr}`);
    return { oid: Number(row.oid), text: row.text, json: row.json };
  }

  it.each(VALUES)('%s', async (expr) => {
    const row = await outputs(expr);
    const decoded = decodeValue(registry, row.oid, row.text);
    expect(JSON.parse(decoded)).toEqual(JSON.parse(row.json));
    expect(typeName(registry, row.oid)).not.toMatch(/^\d+$/);
    if (/::(int8|numeric)$/.test(expr)) expect(decoded).toBe(row.json);
  });

  it.each([
    ['bytea', `'\\x0102ff'::bytea`, '0102ff', '\\x0102ff'],
    ['numeric NaN', `'NaN'::numeric`, null, 'NaN'],
    ['float Infinity', `'Infinity'::float8`, null, 'Infinity'],
    ['float -0', `'-0'::float8`, -0, 0],
    ['oid', `26::oid`, 26, '26'],
    ['oidvector', `'1 2'::oidvector`, [1, 2], ['1', '2']],
    ['composite', `row(1, 'x y')::pair`, '(1,"x y")', { a: 1, b: 'x y' }],
  ])('differs from to_jsonb only where documented: %s', async (_label, expr, ours, theirs) => {
    const row = await outputs(expr);
    expect(JSON.parse(decodeValue(registry, row.oid, row.text))).toEqual(ours);
    expect(JSON.parse(row.json)).toEqual(theirs);
  });
});
