import { decodeBusMessage, encodeBusMessage, type BusHeader } from '@walcast/protocol';
import { DeliveryGroup, type IncomingChange, type ParsedChange } from './delivery-group';
import { EqualityIndex } from './equality-index';

class FakeGroup extends DeliveryGroup {
  readonly topic = 'realtime:fake';
  constructor(
    key: string,
    private readonly eq: { column: string; value: string } | null,
  ) {
    super(key, []);
  }
  equalityFor(): { column: string; value: string } | null {
    return this.eq;
  }
  deliver(): void {}
  replayCopy(): DeliveryGroup {
    return this;
  }
}

function change(type: BusHeader['type'], event: object): IncomingChange {
  const { header, eventJson } = decodeBusMessage(
    encodeBusMessage({ v: 1, src: 's', seq: 1, lsn: '0/1', type }, JSON.stringify(event)),
  );
  let parsed: ParsedChange | undefined;
  return {
    header,
    eventJson,
    schema: 'public',
    table: 't',
    parsed: () => (parsed ??= JSON.parse(eventJson)),
  };
}

const columns = [
  { name: 'id', type: 'int8' },
  { name: 'at', type: 'timestamptz' },
  { name: 'u', type: 'uuid' },
];
const insert = (record: object): IncomingChange => change('INSERT', { type: 'INSERT', columns, record });

describe('EqualityIndex', () => {
  it('returns scanned groups always and indexed groups only for their value', () => {
    const index = new EqualityIndex();
    const scanned = new FakeGroup('all', null);
    const groups = Array.from(
      { length: 1000 },
      (_, i) => new FakeGroup(`g${i}`, { column: 'id', value: String(i) }),
    );
    index.add(scanned, null);
    for (const g of groups) index.add(g, g.equalityFor());
    expect(index.candidates(insert({ id: 7 }))).toEqual([scanned, groups[7]]);
    expect(index.candidates(insert({ id: 5000 }))).toEqual([scanned]);
    expect(index.size).toBe(1001);
  });

  it('keys by the column type: numbers numerically, instants across offsets, uuids in any case', () => {
    const index = new EqualityIndex();
    const n = new FakeGroup('n', { column: 'id', value: '07' });
    const t = new FakeGroup('t', { column: 'at', value: '2021-01-01T01:00:00+01:00' });
    const u = new FakeGroup('u', { column: 'u', value: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' });
    for (const g of [n, t, u]) index.add(g, g.equalityFor());
    expect(index.candidates(insert({ id: 7 }))).toEqual([n]);
    expect(index.candidates(insert({ at: '2021-01-01T00:00:00+00:00' }))).toEqual([t]);
    expect(index.candidates(insert({ u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' }))).toEqual([u]);
  });

  it('matches DELETE on old_record, skips TRUNCATE, and forgets deleted groups', () => {
    const index = new EqualityIndex();
    const g = new FakeGroup('g', { column: 'id', value: '1' });
    index.add(g, g.equalityFor());
    expect(index.candidates(change('DELETE', { type: 'DELETE', columns, old_record: { id: 1 } }))).toEqual([
      g,
    ]);
    expect(index.candidates(change('TRUNCATE', { type: 'TRUNCATE' }))).toEqual([]);
    index.candidates(insert({ id: 1 })); // builds the int8 map
    index.delete(g);
    expect(index.candidates(insert({ id: 1 }))).toEqual([]);
    expect(index.size).toBe(0);
  });

  it('keeps maps built before a group joins up to date', () => {
    const index = new EqualityIndex();
    index.add(new FakeGroup('a', { column: 'id', value: '1' }), { column: 'id', value: '1' });
    index.candidates(insert({ id: 1 }));
    const late = new FakeGroup('b', { column: 'id', value: '2' });
    index.add(late, late.equalityFor());
    expect(index.candidates(insert({ id: 2 }))).toEqual([late]);
  });
});
