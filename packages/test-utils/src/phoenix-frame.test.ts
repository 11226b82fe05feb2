import { decodePhoenixFrame, encodePhoenixFrame } from './phoenix-frame';

describe('encodePhoenixFrame', () => {
  const msg = { topic: 'realtime:room', event: 'phx_join', payload: { a: 1 }, ref: '2', joinRef: '1' };

  it('encodes V1 as an object with join_ref', () => {
    expect(JSON.parse(encodePhoenixFrame(msg, '1.0.0'))).toEqual({
      topic: 'realtime:room',
      event: 'phx_join',
      payload: { a: 1 },
      ref: '2',
      join_ref: '1',
    });
  });

  it('encodes V2 as [join_ref, ref, topic, event, payload]', () => {
    expect(JSON.parse(encodePhoenixFrame(msg, '2.0.0'))).toEqual([
      '1',
      '2',
      'realtime:room',
      'phx_join',
      { a: 1 },
    ]);
  });

  it('encodes missing refs as null', () => {
    expect(JSON.parse(encodePhoenixFrame({ topic: 't', event: 'e', payload: {} }, '2.0.0'))).toEqual([
      null,
      null,
      't',
      'e',
      {},
    ]);
  });
});

describe('decodePhoenixFrame', () => {
  it('decodes V1 objects; a missing join_ref becomes null', () => {
    const raw = '{"topic":"t","event":"phx_reply","payload":{"status":"ok"},"ref":"3"}';
    expect(decodePhoenixFrame(raw)).toEqual({
      joinRef: null,
      ref: '3',
      topic: 't',
      event: 'phx_reply',
      payload: { status: 'ok' },
      raw,
      binary: false,
    });
  });

  it('decodes V2 arrays in [join_ref, ref, topic, event, payload] order and stringifies numeric refs', () => {
    const frame = decodePhoenixFrame('["1",4,"t","broadcast",{"x":true}]');
    expect(frame).toMatchObject({
      joinRef: '1',
      ref: '4',
      topic: 't',
      event: 'broadcast',
      payload: { x: true },
    });
  });

  it('marks invalid JSON and wrong shapes as malformed instead of throwing', () => {
    expect(decodePhoenixFrame('{nope').isMalformed).toBe(true);
    expect(decodePhoenixFrame('[1,2,3]').isMalformed).toBe(true);
    expect(decodePhoenixFrame('{"topic":1,"event":"e"}').isMalformed).toBe(true);
  });
});
