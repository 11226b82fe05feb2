import {
  comparePositionTexts,
  comparePositions,
  formatPosition,
  parsePosition,
  positionOf,
  positionOfStreamId,
  positionPrefix,
  streamIdOf,
} from './position';

describe('positions', () => {
  it('formats fixed-width upper-case hex whose string order is position order', () => {
    const texts = [
      formatPosition(0x16b3748n, 0),
      formatPosition(0x16b3748n, 15),
      formatPosition(0x16b3748n, 16),
      formatPosition(0x100000000n, 0),
      formatPosition(0xffffffffffffffffn, 3),
    ];
    expect(texts[0]).toBe('00000000016B3748-00000000');
    expect(positionOf(positionPrefix(0x16b3748n), 255)).toBe('00000000016B3748-000000FF');
    expect([...texts].sort()).toEqual(texts);
    for (let i = 1; i < texts.length; i++) {
      expect(comparePositions(parsePosition(texts[i - 1])!, parsePosition(texts[i])!)).toBeLessThan(0);
      expect(comparePositionTexts(texts[i - 1]!, texts[i]!)).toBeLessThan(0);
    }
  });

  it('round-trips through text and stream ids, and reads lower case', () => {
    const p = { lsn: 0x16b3748n, index: 7 };
    expect(parsePosition(formatPosition(p.lsn, p.index))).toEqual(p);
    expect(parsePosition('00000000016b3748-00000007')).toEqual(p);
    expect(streamIdOf(p)).toBe(`${0x16b3748}-7`);
    expect(positionOfStreamId(streamIdOf(p))).toEqual(p);
  });

  it('refuses what is not a position', () => {
    for (const bad of [
      '',
      'x',
      '16/B374D848',
      '00000000016B3748',
      '00000000016B3748-',
      '0000000016B3748-00000000',
      '00000000016B3748-0000000G',
      `00000000016B3748-${'0'.repeat(40)}`,
      42,
      null,
      {},
    ]) {
      expect(parsePosition(bad)).toBeNull();
    }
    for (const bad of ['', '-1', '1-x', 'a-b', `${1n << 64n}-0`]) expect(positionOfStreamId(bad)).toBeNull();
  });
});
