import { HASH_SLOTS, hashSlot, slotTag } from './hash-slot';

describe('hashSlot', () => {
  it('gives the slots Redis documents (CLUSTER KEYSLOT)', () => {
    expect(hashSlot('somekey')).toBe(11058);
    expect(hashSlot('foo')).toBe(12182);
    expect(hashSlot('foo{hash_tag}')).toBe(2515);
    expect(hashSlot('bar{hash_tag}')).toBe(2515);
  });

  it('hashes the first non-empty tag only, else the whole name', () => {
    expect(hashSlot('a{x}b{y}')).toBe(hashSlot('x'));
    expect(hashSlot('a{}b{y}')).toBe(hashSlot('a{}b{y}'));
    expect(hashSlot('a{}b{y}')).not.toBe(hashSlot('y'));
    expect(hashSlot('{unclosed')).toBe(hashSlot('{unclosed'));
    expect(hashSlot('é{ü}')).toBe(hashSlot('ü'));
  });
});

describe('slotTag', () => {
  it('is a tag of every slot, short and stable', () => {
    for (let slot = 0; slot < HASH_SLOTS; slot++) {
      const tag = slotTag(slot);
      expect(hashSlot(`walcast:{${tag}}:x`)).toBe(slot);
    }
    expect(slotTag(0)).toBe(slotTag(0));
    expect(Math.max(...Array.from({ length: HASH_SLOTS }, (_, s) => slotTag(s).length))).toBeLessThanOrEqual(
      4,
    );
  });

  it('refuses what is not a slot', () => {
    expect(() => slotTag(HASH_SLOTS)).toThrow(RangeError);
    expect(() => slotTag(-1)).toThrow(RangeError);
  });
});
