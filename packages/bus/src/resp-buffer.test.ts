import { RespBuffer, encodeBulk, encodeCommand } from './resp-buffer';

describe('RespBuffer', () => {
  it('encodes bulk strings as encodeCommand does, UTF-8 lengths in bytes', () => {
    const args = ['EVALSHA', 'é€😀', '', 'x'.repeat(1000)];
    const b = new RespBuffer(8);
    for (const a of args) b.bulk(a);
    expect(b.count).toBe(4);
    expect(`*4\r\n${b.view().toString()}`).toBe(encodeCommand(args));
    expect(b.length).toBe(b.view().length);
  });

  it('appends encoded bulk strings, grows past its first size and is reused after clear', () => {
    const b = new RespBuffer(4);
    b.encoded(encodeBulk('topic'), 1);
    b.bulk('m'.repeat(100));
    expect(b.count).toBe(2);
    expect(b.view().toString()).toBe(`$5\r\ntopic\r\n$100\r\n${'m'.repeat(100)}\r\n`);
    b.clear();
    expect(b.count).toBe(0);
    b.bulk('a');
    expect(b.view().toString()).toBe('$1\r\na\r\n');
  });
});
