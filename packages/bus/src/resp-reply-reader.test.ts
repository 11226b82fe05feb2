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

  it("reads an array as one reply, nested ones and empty ones included, with its elements' errors", () => {
    // EXEC's reply to a transaction of a PUBLISH, a refused XADD, an XADD, SET NX (nil) and an
    // array reply, then an empty and a nil array, then a line.
    const exec =
      '*5\r\n:1\r\n-ERR smaller id\r\n$3\r\n1-0\r\n$-1\r\n*2\r\n*1\r\n-ERR inner\r\n+OK\r\n' +
      '*0\r\n*-1\r\n+OK\r\n';
    const expected = [
      { error: null, elementErrors: ['ERR smaller id', 'ERR inner'] },
      { error: null, elementErrors: [] },
      { error: null, elementErrors: [] },
      { error: null, elementErrors: [] },
    ];
    const read = (chunks: string[]) => {
      const reader = new RespReplyReader();
      const out: Array<{ error: string | null; elementErrors: readonly string[] }> = [];
      for (const chunk of chunks) {
        reader.read(
          Buffer.from(chunk, 'latin1'),
          (error, elementErrors) => out.push({ error, elementErrors }) > 0,
        );
      }
      return out;
    };
    expect(read([exec])).toEqual(expected);
    for (let at = 1; at < exec.length; at++)
      expect(read([exec.slice(0, at), exec.slice(at)])).toEqual(expected);
  });
});
