import { policyRow } from './policy-row';

describe('policyRow', () => {
  it('keeps integers beyond 2^53 as their digits and parses everything else', () => {
    expect(
      policyRow(
        '{"id":9007199254740993,"n":-9223372036854775808,"s":9007199254740991,"f":1.5,"t":"x","j":{"a":[1]},"z":null}',
      ),
    ).toEqual({
      id: '9007199254740993',
      n: '-9223372036854775808',
      s: 9007199254740991,
      f: 1.5,
      t: 'x',
      j: { a: [1] },
      z: null,
    });
  });

  it('keeps columns named like Object members as plain members', () => {
    const row = policyRow('{"__proto__":"a","constructor":1}');
    expect(Object.keys(row)).toEqual(['__proto__', 'constructor']);
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
  });
});
