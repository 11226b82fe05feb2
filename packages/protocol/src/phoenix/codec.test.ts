import { ProtocolError } from './message';
import { DEFAULT_MAX_FRAME_DEPTH, MAX_REF_LENGTH, codecFor, v1Codec, v2Codec } from './codec';

/** Runs `fn`, expects a ProtocolError, and returns it. */
function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

describe('v1Codec.decode', () => {
  it('decodes an object frame with join_ref', () => {
    const msg = v1Codec.decode(
      '{"topic":"realtime:room","event":"phx_join","payload":{"config":{}},"ref":"2","join_ref":"1"}',
    );
    expect(msg).toEqual({
      joinRef: '1',
      ref: '2',
      topic: 'realtime:room',
      event: 'phx_join',
      payload: { config: {} },
    });
  });

  it('treats a missing join_ref (heartbeats) as null', () => {
    const msg = v1Codec.decode('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"7"}');
    expect(msg.joinRef).toBeNull();
    expect(msg.ref).toBe('7');
  });

  it('normalises numeric refs and join_refs to strings', () => {
    const msg = v1Codec.decode('{"topic":"t","event":"e","payload":{},"ref":5,"join_ref":12}');
    expect(msg.ref).toBe('5');
    expect(msg.joinRef).toBe('12');
  });

  it('accepts a null ref', () => {
    expect(v1Codec.decode('{"topic":"t","event":"e","payload":{},"ref":null}').ref).toBeNull();
  });

  it('rejects text that is not JSON without a ref', () => {
    const err = protocolError(() => v1Codec.decode('{"topic":'));
    expect(err.message).toBe('frame is not valid JSON');
    expect(err.ref).toBeNull();
  });

  it.each(['[null,"1","t","e",{}]', '"text"', '42', 'null'])('rejects the non-object frame %s', (text) => {
    expect(protocolError(() => v1Codec.decode(text)).message).toBe('a vsn=1.0.0 frame must be a JSON object');
  });

  it('reports a missing topic with the ref of the frame', () => {
    const err = protocolError(() => v1Codec.decode('{"event":"e","payload":{},"ref":"3"}'));
    expect(err.message).toBe('topic must be a non-empty string');
    expect(err.ref).toBe('3');
  });

  it('reports an empty topic with the ref of the frame', () => {
    expect(protocolError(() => v1Codec.decode('{"topic":"","event":"e","payload":{},"ref":"4"}')).ref).toBe(
      '4',
    );
  });

  it('reports a missing or empty event with the ref and topic', () => {
    for (const text of [
      '{"topic":"realtime:a","payload":{},"ref":"5"}',
      '{"topic":"realtime:a","event":"","payload":{},"ref":"5"}',
      '{"topic":"realtime:a","event":3,"payload":{},"ref":"5"}',
    ]) {
      const err = protocolError(() => v1Codec.decode(text));
      expect(err.message).toBe('event must be a non-empty string');
      expect(err.ref).toBe('5');
      expect(err.topic).toBe('realtime:a');
    }
  });

  it('reports a missing payload with the ref and topic', () => {
    const err = protocolError(() => v1Codec.decode('{"topic":"realtime:a","event":"e","ref":6}'));
    expect(err.message).toBe('payload is required');
    expect(err.ref).toBe('6');
    expect(err.topic).toBe('realtime:a');
  });

  it('reports an unreadable join_ref with the ref and topic', () => {
    const err = protocolError(() =>
      v1Codec.decode('{"topic":"realtime:a","event":"e","payload":{},"ref":"8","join_ref":{"x":1}}'),
    );
    expect(err.message).toBe('join_ref must be a string or null');
    expect(err.ref).toBe('8');
    expect(err.topic).toBe('realtime:a');
  });

  it('reports an unreadable ref without a ref but with the topic', () => {
    for (const ref of ['true', '[1]', '{"a":1}', '1e400']) {
      const err = protocolError(() =>
        v1Codec.decode(`{"topic":"realtime:a","event":"e","payload":{},"ref":${ref}}`),
      );
      expect(err.message).toBe('ref must be a string or null');
      expect(err.ref).toBeNull();
      expect(err.topic).toBe('realtime:a');
    }
  });
});

describe('v1Codec.encode', () => {
  it('never emits join_ref, even when the message has one', () => {
    const text = v1Codec.encode({
      joinRef: '1',
      ref: '2',
      topic: 'realtime:room',
      event: 'phx_reply',
      payload: {},
    });
    const parsed = JSON.parse(text) as Record<string, unknown>;
    expect(parsed).toEqual({ topic: 'realtime:room', event: 'phx_reply', payload: {}, ref: '2' });
    expect(Object.keys(parsed)).not.toContain('join_ref');
    expect(text).not.toContain('join_ref');
  });

  it('writes a null ref for pushes and broadcasts', () => {
    const text = v1Codec.encode({ joinRef: null, ref: null, topic: 't', event: 'INSERT', payload: { a: 1 } });
    expect(JSON.parse(text)).toEqual({ topic: 't', event: 'INSERT', payload: { a: 1 }, ref: null });
  });

  it('writes an undefined payload as an empty object', () => {
    const text = v1Codec.encode({ joinRef: null, ref: '1', topic: 't', event: 'e', payload: undefined });
    expect((JSON.parse(text) as { payload: unknown }).payload).toEqual({});
  });

  it('escapes topics and events that need JSON escaping', () => {
    const topic = 'realtime:"quoted"\n\u00e9\u{1F600}';
    const text = v1Codec.encode({ joinRef: null, ref: '1', topic, event: 'a\\b', payload: {} });
    expect(JSON.parse(text)).toMatchObject({ topic, event: 'a\\b' });
  });

  it('round-trips through decode', () => {
    const msg = {
      joinRef: null,
      ref: '9',
      topic: 'realtime:x',
      event: 'phx_leave',
      payload: { n: [1, 'two'] },
    };
    expect(v1Codec.decode(v1Codec.encode(msg))).toEqual(msg);
  });

  it('encodeWithRawPayload splices the payload text unchanged', () => {
    const payloadJson = '{"data":{"b":2,  "a":1},"ids":[1]}';
    const text = v1Codec.encodeWithRawPayload(
      { joinRef: '3', ref: null, topic: 'realtime:x', event: 'postgres_changes' },
      payloadJson,
    );
    expect(text).toContain(`"payload":${payloadJson}`);
    expect(text).not.toContain('join_ref');
    expect(JSON.parse(text)).toEqual({
      topic: 'realtime:x',
      event: 'postgres_changes',
      payload: JSON.parse(payloadJson),
      ref: null,
    });
  });
});

describe('v2Codec.decode', () => {
  it('decodes [join_ref, ref, topic, event, payload]', () => {
    expect(v2Codec.decode('["1","2","realtime:room","phx_join",{"config":{}}]')).toEqual({
      joinRef: '1',
      ref: '2',
      topic: 'realtime:room',
      event: 'phx_join',
      payload: { config: {} },
    });
  });

  it('accepts arrays with more than five elements and ignores the extras', () => {
    expect(v2Codec.decode('[null,"3","phoenix","heartbeat",{},"extra",7,null]')).toEqual({
      joinRef: null,
      ref: '3',
      topic: 'phoenix',
      event: 'heartbeat',
      payload: {},
    });
  });

  it('normalises numeric refs to strings', () => {
    const msg = v2Codec.decode('[1,2,"t","e",{}]');
    expect(msg.joinRef).toBe('1');
    expect(msg.ref).toBe('2');
  });

  it.each(['[null,"1","t","e"]', '[]', '{"topic":"t","event":"e","payload":{},"ref":"1"}', '"x"'])(
    'rejects %s as not a five-element array',
    (text) => {
      expect(protocolError(() => v2Codec.decode(text)).message).toMatch(
        /^a vsn=2\.0\.0 frame must be a JSON array/,
      );
    },
  );

  it('rejects text that is not JSON', () => {
    expect(protocolError(() => v2Codec.decode('[1,2,')).message).toBe('frame is not valid JSON');
  });

  it('reports malformed fields with the ref when it is readable', () => {
    expect(protocolError(() => v2Codec.decode('[null,"4",5,"e",{}]')).ref).toBe('4');
    expect(protocolError(() => v2Codec.decode('[null,4,"t",null,{}]')).ref).toBe('4');
  });

  it('accepts a null payload (only a missing one is refused)', () => {
    expect(v2Codec.decode('[null,"4","t","e",null]').payload).toBeNull();
  });

  it('reports a bad join_ref with the ref and topic', () => {
    const err = protocolError(() => v2Codec.decode('[false,"6","realtime:a","e",{}]'));
    expect(err.message).toBe('join_ref must be a string or null');
    expect(err.ref).toBe('6');
    expect(err.topic).toBe('realtime:a');
  });

  it('reports a bad ref without a ref', () => {
    const err = protocolError(() => v2Codec.decode('[null,{},"realtime:a","e",{}]'));
    expect(err.ref).toBeNull();
    expect(err.topic).toBe('realtime:a');
  });
});

describe('v2Codec.encode', () => {
  it('writes [join_ref, ref, topic, event, payload]', () => {
    const text = v2Codec.encode({
      joinRef: '1',
      ref: '2',
      topic: 'realtime:a',
      event: 'phx_reply',
      payload: { s: 1 },
    });
    expect(JSON.parse(text)).toEqual(['1', '2', 'realtime:a', 'phx_reply', { s: 1 }]);
  });

  it('writes null refs for fan-out frames', () => {
    const text = v2Codec.encode({
      joinRef: null,
      ref: null,
      topic: 't',
      event: 'postgres_changes',
      payload: {},
    });
    expect(JSON.parse(text)).toEqual([null, null, 't', 'postgres_changes', {}]);
  });

  it('round-trips through decode', () => {
    const msg = {
      joinRef: '1',
      ref: '2',
      topic: 'realtime:\u00fc:"x"',
      event: 'broadcast',
      payload: { a: [true] },
    };
    expect(v2Codec.decode(v2Codec.encode(msg))).toEqual(msg);
  });

  it('encodeWithRawPayload splices the payload text unchanged', () => {
    const payloadJson = '{"z":1,\n"a":"x"}';
    const text = v2Codec.encodeWithRawPayload(
      { joinRef: '1', ref: null, topic: 't', event: 'system' },
      payloadJson,
    );
    expect(text).toBe(`["1",null,"t","system",${payloadJson}]`);
    expect(JSON.parse(text)).toEqual(['1', null, 't', 'system', { z: 1, a: 'x' }]);
  });
});

describe('codecFor', () => {
  it.each([undefined, null, '', '1.0.0'])('selects V1 for vsn %p', (vsn) => {
    expect(codecFor(vsn)).toBe(v1Codec);
  });

  it('selects V2 for 2.0.0', () => {
    expect(codecFor('2.0.0')).toBe(v2Codec);
  });

  it.each(['3.0.0', '2.0', '1', 'v1.0.0'])('returns null for the unsupported vsn %p', (vsn) => {
    expect(codecFor(vsn)).toBeNull();
  });

  it('reports its version', () => {
    expect(v1Codec.vsn).toBe('1.0.0');
    expect(v2Codec.vsn).toBe('2.0.0');
  });
});

describe('hostile frames', () => {
  const deepConfig = (levels: number): string =>
    `{"config":{"postgres_changes":${'['.repeat(levels)}${']'.repeat(levels)}}}`;

  it.each([
    ['1.0.0', (p: string) => `{"topic":"realtime:x","event":"phx_join","payload":${p},"ref":"1"}`],
    ['2.0.0', (p: string) => `["1","1","realtime:x","phx_join",${p}]`],
  ] as const)('refuses a frame nested deeper than the limit (vsn %s) before parsing it', (vsn, frame) => {
    const codec = vsn === '1.0.0' ? v1Codec : v2Codec;
    expect(() => codec.decode(frame(deepConfig(5000)))).toThrow(
      new ProtocolError(`frame nests arrays and objects deeper than ${DEFAULT_MAX_FRAME_DEPTH} levels`),
    );
    // frame, payload and config are three levels, the arrays ten more
    expect(() => codec.decode(frame(deepConfig(10)), 13)).not.toThrow();
    expect(() => codec.decode(frame(deepConfig(10)), 12)).toThrow(ProtocolError);
  });

  it('refuses refs longer than MAX_REF_LENGTH, answering without the ref', () => {
    const long = 'r'.repeat(MAX_REF_LENGTH + 1);
    let err: ProtocolError | undefined;
    try {
      v2Codec.decode(`["1",${JSON.stringify(long)},"realtime:x","phx_join",{}]`);
    } catch (e) {
      err = e as ProtocolError;
    }
    expect(err?.message).toBe(`ref is longer than ${MAX_REF_LENGTH} characters`);
    expect(err?.ref).toBeNull();
    expect(() => v2Codec.decode(`[${JSON.stringify(long)},"1","realtime:x","phx_join",{}]`)).toThrow(
      `join_ref is longer than ${MAX_REF_LENGTH} characters`,
    );
  });
});
