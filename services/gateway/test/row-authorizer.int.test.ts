// RowAuthorizer against a real PostgreSQL, without websockets: which policies apply to which role
// as PostgreSQL decides (permissive OR'd, restrictive AND'd, FOR SELECT and FOR ALL but not FOR
// INSERT, TO a role or one it belongs to, BYPASSRLS, superuser, the owner unless FORCE), the
// view of each change type, and the start-up warnings of the gateway about unauthorized rows.
import { encodeBusMessage, decodeBusMessage, type BusHeader } from '@walcast/protocol';
import { createLogger } from '@walcast/logger';
import { sql, startBackends, WalcastStack, waitFor, type Backends } from '@walcast/test-utils';
import type { IncomingChange, ParsedChange } from '../src/channels/delivery-group';
import { identityOf, type Identity } from '../src/rls/identity';
import { createRowAuthPool } from '../src/rls/pg-pool';
import { PolicyEvaluator } from '../src/rls/policy-evaluator';
import type { ConnectionPool } from '../src/rls/queryable';
import { RowAuthorizer, type View } from '../src/rls/row-authorizer';
import { TableAccessCatalog } from '../src/rls/table-access';

jest.setTimeout(60_000);

const log = createLogger({ service: 'gateway', level: 'silent', version: 'test' });
let backends: Backends;
let pool: ConnectionPool;
let catalog: TableAccessCatalog;
let authorizer: RowAuthorizer;

beforeAll(async () => {
  backends = await startBackends();
  await sql(
    backends.pg.url,
    'create role reader nologin',
    'create role member nologin',
    'create role bypasser nologin bypassrls',
    'create role owner_role nologin',
    'grant member to reader',
    'create table t (id int primary key, team int, tag text, secret text)',
    'alter table t enable row level security',
    'grant select on t to reader, bypasser, owner_role',
    // permissive: team 1 (to members, which reader belongs to) or tag 'open' (for all commands);
    // restrictive: never tag 'hidden'; an INSERT-only policy grants no reading.
    `create policy team1 on t for select to member using (team = 1)`,
    `create policy open on t for all using (tag = 'open')`,
    `create policy no_hidden on t as restrictive for select using (tag is distinct from 'hidden')`,
    `create policy insert_only on t for insert to reader with check (true)`,
    'create table owned (id int primary key, v text)',
    'alter table owned owner to owner_role',
    'alter table owned enable row level security',
    'create table forced (id int primary key, v text)',
    'alter table forced owner to owner_role',
    'alter table forced enable row level security',
    'alter table forced force row level security',
    'alter table t replica identity full',
  );
  pool = createRowAuthPool(
    { connection: { connectionString: backends.pg.url }, poolSize: 2, checkTimeoutMs: 5000 },
    log,
  );
  catalog = new TableAccessCatalog({ db: pool, refreshMs: 60_000, log });
  authorizer = new RowAuthorizer({
    catalog,
    evaluator: new PolicyEvaluator({ pool, log, maxConcurrent: 2 }),
  });
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await backends?.stop();
});

let seq = 0;

function change(
  table: string,
  type: BusHeader['type'],
  rows: { record?: Record<string, unknown>; old_record?: Record<string, unknown> },
): IncomingChange {
  const columns =
    table === 't'
      ? [
          { name: 'id', type: 'int4' },
          { name: 'team', type: 'int4' },
          { name: 'tag', type: 'text' },
          { name: 'secret', type: 'text' },
        ]
      : [
          { name: 'id', type: 'int4' },
          { name: 'v', type: 'text' },
        ];
  const event = JSON.stringify({
    schema: 'public',
    table,
    commit_timestamp: '2026-01-01T00:00:00.000000Z',
    errors: null,
    type,
    columns,
    ...rows,
  });
  const { header, eventJson } = decodeBusMessage(
    encodeBusMessage({ v: 1, src: 's', seq: ++seq, lsn: '0/1', type, pk: ['id'] }, event),
  );
  let parsed: ParsedChange | undefined;
  return {
    header,
    eventJson,
    schema: 'public',
    table,
    parsed: () => (parsed ??= JSON.parse(eventJson) as ParsedChange),
  };
}

const as = (role: string, claims: Record<string, unknown> = {}): Identity => {
  const identity = identityOf({ role, ...claims });
  if ('error' in identity) throw new Error(identity.error);
  return identity;
};

async function view(c: IncomingChange, identity: Identity): Promise<Record<string, unknown> | null> {
  const v: View = await authorizer.view(c, identity);
  return v === null ? null : (JSON.parse(v.json) as Record<string, unknown>);
}

const insert = (record: Record<string, unknown>): IncomingChange => change('t', 'INSERT', { record });

describe('which policies apply', () => {
  it('permissive policies are OR’d: a member sees team 1, anyone sees open rows, others nothing', async () => {
    const reader = as('reader');
    expect(await view(insert({ id: 1, team: 1, tag: 'x', secret: 's' }), reader)).not.toBeNull();
    expect(await view(insert({ id: 2, team: 2, tag: 'open', secret: 's' }), reader)).not.toBeNull();
    expect(await view(insert({ id: 3, team: 2, tag: 'x', secret: 's' }), reader)).toBeNull();
  });

  it('a restrictive policy is AND’d with them', async () => {
    expect(await view(insert({ id: 4, team: 1, tag: 'hidden', secret: 's' }), as('reader'))).toBeNull();
  });

  it('a policy TO another role does not apply; FOR INSERT grants no reading', async () => {
    // owner_role is not a member: team 1 is not visible to it, open rows are (FOR ALL TO PUBLIC)
    const other = as('owner_role');
    expect(await view(insert({ id: 5, team: 1, tag: 'x', secret: 's' }), other)).toBeNull();
    expect(await view(insert({ id: 6, team: 9, tag: 'open', secret: 's' }), other)).not.toBeNull();
  });

  it('BYPASSRLS and superusers see every row', async () => {
    expect(await view(insert({ id: 7, team: 9, tag: 'hidden', secret: 's' }), as('bypasser'))).not.toBeNull();
    expect(await view(insert({ id: 8, team: 9, tag: 'hidden', secret: 's' }), as('postgres'))).not.toBeNull();
  });

  it("the table's owner sees every row unless FORCE ROW LEVEL SECURITY", async () => {
    const owner = as('owner_role');
    expect(await view(change('owned', 'INSERT', { record: { id: 1, v: 'a' } }), owner)).not.toBeNull();
    expect(await view(change('forced', 'INSERT', { record: { id: 1, v: 'a' } }), owner)).toBeNull();
  });
});

describe('what a visible change carries', () => {
  it('UPDATE under FULL identity: the old row only when it passed too, else its key', async () => {
    const reader = as('reader');
    const fromHidden = change('t', 'UPDATE', {
      record: { id: 9, team: 1, tag: 'x', secret: 'new' },
      old_record: { id: 9, team: 2, tag: 'x', secret: 'old' },
    });
    expect((await view(fromHidden, reader))?.old_record).toEqual({ id: 9 });
    const fromVisible = change('t', 'UPDATE', {
      record: { id: 10, team: 1, tag: 'y', secret: 'new' },
      old_record: { id: 10, team: 1, tag: 'x', secret: 'old' },
    });
    expect((await view(fromVisible, reader))?.old_record).toEqual({
      id: 10,
      team: 1,
      tag: 'x',
      secret: 'old',
    });
  });

  it('DELETE: the old row when it passes, else the key only', async () => {
    const reader = as('reader');
    const visible = change('t', 'DELETE', { old_record: { id: 11, team: 1, tag: 'x', secret: 's' } });
    expect((await view(visible, reader))?.old_record).toEqual({ id: 11, team: 1, tag: 'x', secret: 's' });
    const hidden = change('t', 'DELETE', { old_record: { id: 12, team: 2, tag: 'x', secret: 's' } });
    expect((await view(hidden, reader))?.old_record).toEqual({ id: 12 });
  });

  it('a grant revoked is seen after a refresh: the column leaves record and columns', async () => {
    await sql(
      backends.pg.url,
      'revoke select on t from reader',
      'grant select (id, team, tag) on t to reader',
    );
    await catalog.refresh();
    const v = await view(insert({ id: 13, team: 1, tag: 'x', secret: 's' }), as('reader'));
    expect(v?.record).toEqual({ id: 13, team: 1, tag: 'x' });
    expect((v?.columns as Array<{ name: string }>).map((c) => c.name)).toEqual(['id', 'team', 'tag']);
  });
});

describe('start-up warnings', () => {
  it('open channels with a database: the published tables with row-level security are named', async () => {
    await sql(backends.pg.url, 'create publication supabase_realtime for all tables');
    const stack = await WalcastStack.start(backends, { gateways: 1 });
    try {
      const warning = await waitFor(
        () => stack.gateways[0]!.logs.find((l) => l['code'] === 'RowAuthorizationOff'),
        { message: 'the RowAuthorizationOff warning' },
      );
      expect(warning['tables']).toEqual(
        expect.arrayContaining(['public.t', 'public.owned', 'public.forced']),
      );
      await stack.gateways[0]!.stop();
      await stack.startGateway(0, {
        SECURE_CHANNELS: 'true',
        JWT_SECRET: 'x'.repeat(40),
        ROW_AUTHORIZATION: 'off',
      });
      const off = await waitFor(
        () => stack.gateways[0]!.logs.find((l) => l['code'] === 'RowAuthorizationOff'),
        { message: 'the ROW_AUTHORIZATION=off warning' },
      );
      expect(off['msg']).toMatch(/^ROW_AUTHORIZATION=off: every authorized channel receives every row/);
    } finally {
      await stack.stop();
    }
  });
});
