import { RespReplyReader } from './resp-reply-reader';

/** Every reply in `chunks` (read one after another) as its error text or null. */
function replies(chunks: string[], stopAfter = Infinity): Array<string | null> {
  const reader = new RespReplyReader();
  const out: Array<string | null> = [];
  for (const chunk of chunks) {
    reader.read(Buffer.from(chunk, 'latin1'), (error) => {
      out.push(error);
      return out.length < stopAfter;
    });
  }
  return out;
}

describe('RespReplyReader', () => {
  const stream =
    ':1\r\n+OK\r\n-ERR wrong\r\n$5\r\nhe\r\no\r\n$-1\r\n$0\r\n\r\n-NOSCRIPT No matching\r\n:0\r\n';
  const expected = [null, null, 'ERR wrong', null, null, null, 'NOSCRIPT No matching', null];

  it('finds where each reply ends and which are errors, a bulk payload holding CRLF included', () => {
    expect(replies([stream])).toEqual(expected);
  });

  it('gives the same replies however the stream is split across reads', () => {
    for (let at = 1; at < stream.length; at++) {
      expect(replies([stream.slice(0, at), stream.slice(at)])).toEqual(expected);
    }
    expect(replies([...stream])).toEqual(expected);
  });

  it('stops reading when told to, and starts clean after reset', () => {
    expect(replies([stream], 3)).toEqual([null, null, 'ERR wrong']);
    const reader = new RespReplyReader();
    reader.read(Buffer.from('-ERR par'), () => true);
    reader.reset();
    const out: Array<string | null> = [];
    reader.read(Buffer.from('+OK\r\n'), (e) => out.push(e) > 0);
    expect(out).toEqual([null]);
  });
});
