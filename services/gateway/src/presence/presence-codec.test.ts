import { decodePresenceValue, encodePresenceValue, presenceDiffJson } from './presence-codec';

describe('presence values', () => {
  it('round-trip, key first (the Lua scripts cut values at the first `,"meta":`)', () => {
    const entry = { key: 'a","meta":{"x', meta: { phx_ref: 'r1', ',"meta":': '}', n: [1, {}] } };
    const text = encodePresenceValue(entry);
    expect(text.startsWith(`{"key":${JSON.stringify(entry.key)},"meta":`)).toBe(true);
    expect(text.indexOf(',"meta":')).toBe(7 + JSON.stringify(entry.key).length);
    expect(decodePresenceValue(text)).toEqual(entry);
  });

  it.each([
    ['not JSON', '{'],
    ['not an object', '"x"'],
    ['no key', '{"meta":{"phx_ref":"r"}}'],
    ['a key that is not a string', '{"key":1,"meta":{"phx_ref":"r"}}'],
    ['a meta that is an array', '{"key":"k","meta":[]}'],
    ['no phx_ref', '{"key":"k","meta":{"u":1}}'],
  ])('refuses %s', (_what, text) => {
    expect(decodePresenceValue(text)).toBeNull();
  });
});

describe('presenceDiffJson', () => {
  it('groups metas by key and keeps joins and leaves apart', () => {
    const a1 = { key: 'a', meta: { phx_ref: '1' } };
    const a2 = { key: 'a', meta: { phx_ref: '2' } };
    const b = { key: 'b', meta: { phx_ref: '3', phx_ref_prev: '0' } };
    expect(JSON.parse(presenceDiffJson([a1, b, a2], [a1]))).toEqual({
      joins: { a: { metas: [a1.meta, a2.meta] }, b: { metas: [b.meta] } },
      leaves: { a: { metas: [a1.meta] } },
    });
    expect(presenceDiffJson([], [])).toBe('{"joins":{},"leaves":{}}');
  });

  it('keeps a key named __proto__ as data', () => {
    const e = { key: '__proto__', meta: { phx_ref: '1' } };
    expect(Object.keys(JSON.parse(presenceDiffJson([e], [])).joins)).toEqual(['__proto__']);
  });
});
