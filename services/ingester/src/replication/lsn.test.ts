import { lsnFromText, lsnToText } from './lsn';

describe('lsnFromText', () => {
  it('reads the two hex halves', () => {
    expect(lsnFromText('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(lsnFromText('0/0')).toBe(0n);
    expect(lsnFromText('0/1')).toBe(1n);
    expect(lsnFromText('1/0')).toBe(1n << 32n);
    expect(lsnFromText('FFFFFFFF/FFFFFFFF')).toBe(2n ** 64n - 1n);
  });

  it('accepts lower case and zero padding', () => {
    expect(lsnFromText('16/b374d848')).toBe(lsnFromText('16/B374D848'));
    expect(lsnFromText('00000016/0000D848')).toBe((0x16n << 32n) | 0xd848n);
  });

  it.each([
    '',
    '/',
    '16',
    '16/',
    '/B374D848',
    'G/1',
    '1/G',
    '123456789/0',
    '0/123456789',
    '1/2/3',
    ' 1/2',
    '-1/2',
    '0x1/2',
  ])('refuses %p', (text) => {
    expect(() => lsnFromText(text)).toThrow(`not an LSN: ${JSON.stringify(text)}`);
  });
});

describe('lsnToText', () => {
  it('prints upper-case halves without padding, as PostgreSQL does', () => {
    expect(lsnToText((0x16n << 32n) | 0xb374d848n)).toBe('16/B374D848');
    expect(lsnToText(0n)).toBe('0/0');
    expect(lsnToText(0xd848n)).toBe('0/D848');
    expect(lsnToText(2n ** 64n - 1n)).toBe('FFFFFFFF/FFFFFFFF');
  });

  it.each(['0/0', '16/B374D848', '1/0', 'ABCDEF01/23456789'])('round-trips %p', (text) => {
    expect(lsnToText(lsnFromText(text))).toBe(text);
  });

  it('orders as the numeric LSN does', () => {
    expect(lsnFromText('1/0') > lsnFromText('0/FFFFFFFF')).toBe(true);
  });
});
