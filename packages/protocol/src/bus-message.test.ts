import {
  BUS_MESSAGE_VERSION,
  BusMessageError,
  decodeBusMessage,
  encodeBusMessage,
  type BusHeader,
} from './bus-message';

const header: BusHeader = {
  v: BUS_MESSAGE_VERSION,
  src: 'ingester-1',
  seq: 42,
  lsn: '16/B374D848',
  type: 'UPDATE',
};

function busError(text: string): BusMessageError {
  try {
    decodeBusMessage(text);
  } catch (err) {
    expect(err).toBeInstanceOf(BusMessageError);
    return err as BusMessageError;
  }
  throw new Error('expected a BusMessageError');
}

describe('encodeBusMessage / decodeBusMessage', () => {
  it('round-trips the header and the event text', () => {
    const eventJson = '{"type":"UPDATE","record":{"id":1}}';
    expect(decodeBusMessage(encodeBusMessage(header, eventJson))).toEqual({ header, eventJson });
  });

  it('round-trips the optional primary key and publish time', () => {
    const full: BusHeader = { ...header, pk: ['org', 'id'], ts: 1_780_000_000_123 };
    const eventJson = '{"type":"UPDATE"}';
    expect(decodeBusMessage(encodeBusMessage(full, eventJson))).toEqual({ header: full, eventJson });
  });

  it('keeps event JSON that contains newlines byte for byte', () => {
    const eventJson = '{"type":"INSERT",\n"record":{"doc":{\n  "a": 1\n}}}\n';
    const decoded = decodeBusMessage(encodeBusMessage({ ...header, type: 'INSERT' }, eventJson));
    expect(decoded.eventJson).toBe(eventJson);
    expect(decoded.header.type).toBe('INSERT');
  });

  it('escapes a newline in the source so the header stays one line', () => {
    const src = 'host\nname "quoted"';
    const text = encodeBusMessage({ ...header, src }, '{}');
    expect(text.indexOf('\n')).toBe(text.lastIndexOf('\n'));
    expect(decodeBusMessage(text).header.src).toBe(src);
  });

  it.each(['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] as const)('carries the change type %s', (type) => {
    expect(decodeBusMessage(encodeBusMessage({ ...header, type }, '{}')).header.type).toBe(type);
  });

  it('writes the header as a JSON line before the event', () => {
    const text = encodeBusMessage(header, '{"x":1}');
    const [line, rest] = [text.slice(0, text.indexOf('\n')), text.slice(text.indexOf('\n') + 1)];
    expect(JSON.parse(line)).toEqual(header);
    expect(rest).toBe('{"x":1}');
  });
});

describe('decodeBusMessage failures', () => {
  it('refuses an unknown version', () => {
    const err = busError('{"v":2,"src":"a","seq":1,"lsn":"0/1","type":"INSERT"}\n{}');
    expect(err.code).toBe('UnknownVersion');
    expect(err.message).toContain('2');
  });

  it('refuses a header without version as an unknown version', () => {
    expect(busError('{"src":"a","seq":1,"lsn":"0/1","type":"INSERT"}\n{}').code).toBe('UnknownVersion');
  });

  it.each([
    ['no newline', '{"v":1,"src":"a","seq":1,"lsn":"0/1","type":"INSERT"}'],
    ['a header that is not JSON', '{"v":1,\n{}'],
    ['a null header', 'null\n{}'],
    ['a numeric header', '1\n{}'],
    ['a missing src', '{"v":1,"seq":1,"lsn":"0/1","type":"INSERT"}\n{}'],
    ['a string seq', '{"v":1,"src":"a","seq":"1","lsn":"0/1","type":"INSERT"}\n{}'],
    ['a missing lsn', '{"v":1,"src":"a","seq":1,"type":"INSERT"}\n{}'],
    ['an unknown type', '{"v":1,"src":"a","seq":1,"lsn":"0/1","type":"UPSERT"}\n{}'],
    ['a pk that is not a list', '{"v":1,"src":"a","seq":1,"lsn":"0/1","type":"INSERT","pk":"id"}\n{}'],
    ['a string ts', '{"v":1,"src":"a","seq":1,"lsn":"0/1","type":"INSERT","ts":"1"}\n{}'],
    ['an empty event', '{"v":1,"src":"a","seq":1,"lsn":"0/1","type":"INSERT"}\n'],
    ['an event that is not an object', '{"v":1,"src":"a","seq":1,"lsn":"0/1","type":"INSERT"}\n[1]'],
  ])('refuses %s as malformed', (_what, text) => {
    expect(busError(text).code).toBe('MalformedEnvelope');
  });
});
