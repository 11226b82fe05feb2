import { decodeUserBroadcastPush, encodeUserBroadcast, encodeUserBroadcastPush } from './binary-frames';
import { ProtocolError } from './message';

describe('kind 3 (user broadcast push)', () => {
  it('decodes what realtime-js sends (the golden frame), multi-byte text included', () => {
    const golden = Buffer.concat([
      Buffer.from([3, 1, 1, 14, 6, 0, 1]),
      Buffer.from('15realtime:room1cursor{"x":1}'),
    ]);
    expect(decodeUserBroadcastPush(golden)).toEqual({
      joinRef: '1',
      ref: '5',
      topic: 'realtime:room1',
      event: 'cursor',
      meta: null,
      json: true,
      payload: Buffer.from('{"x":1}'),
    });
    const push = {
      joinRef: null,
      ref: '2',
      topic: 'realtime:café',
      event: 'é',
      meta: { persist: true },
      json: false,
      payload: Buffer.from([0, 255]),
    };
    expect(decodeUserBroadcastPush(encodeUserBroadcastPush(push))).toEqual({
      ...push,
      payload: Buffer.from([0, 255]),
    });
  });

  it.each([
    ['an empty frame', []],
    ['another kind', [0, 0, 0, 1, 1, 'ta']],
    ['a short header', [3, 0, 0]],
    ['lengths past the end', [3, 1, 1, 200, 1, 0, 1, 'ab']],
    ['an unknown encoding', [3, 0, 0, 1, 1, 0, 7, 'te']],
    ['metadata that is not an object', [3, 0, 0, 1, 1, 2, 1, 'te[]']],
    ['invalid UTF-8', [3, 0, 0, 1, 1, 0, 1, Buffer.from([0xff]), 'e']],
  ])('refuses %s with a ProtocolError', (_what, parts) => {
    const bytes = Buffer.concat(
      (parts as Array<number | string | Buffer>).map((p) =>
        typeof p === 'number' ? Buffer.from([p]) : Buffer.isBuffer(p) ? p : Buffer.from(p),
      ),
    );
    expect(() => decodeUserBroadcastPush(bytes)).toThrow(ProtocolError);
  });
});

describe('kind 4 (user broadcast)', () => {
  it('encodes the layout realtime-js decodes', () => {
    const frame = encodeUserBroadcast('realtime:room1', 'cursor', '', true, Buffer.from('{"x":1}'))!;
    expect(frame).toEqual(
      Buffer.concat([Buffer.from([4, 14, 6, 0, 1]), Buffer.from('realtime:room1cursor{"x":1}')]),
    );
  });

  it('is null when a field does not fit a length byte', () => {
    expect(encodeUserBroadcast('realtime:room', 'e'.repeat(256), '', true, Buffer.from('1'))).toBeNull();
  });
});
