import { TokenBucket } from '../channels/token-bucket';
import { MAX_BATCH_MESSAGES, parseBatch, parseSingle, singleBodyKind } from './broadcast-request';
import { requestToken } from './rest-broadcast';

const limits = { maxPayloadBytes: 100, maxDepth: 4 };
const ID = '0b9a4c52-3c3e-4e59-9d6a-2f2b6f0b1c11';

describe('parseBatch', () => {
  it('turns each message into the client map, with meta.id when an id is given', () => {
    const body = JSON.stringify({
      messages: [
        { topic: 'room1', event: 'e', payload: { a: 1 } },
        { topic: 'room2', event: 'f', payload: {}, private: true, id: ID },
      ],
    });
    expect(parseBatch(body, limits)).toEqual({
      messages: [
        {
          subtopic: 'room1',
          isPrivate: false,
          header: { shape: 'map', event: 'e', enc: 'json' },
          payloadText: '{"payload":{"a":1},"event":"e","type":"broadcast"}',
        },
        {
          subtopic: 'room2',
          isPrivate: true,
          header: { shape: 'map', event: 'f', enc: 'json' },
          payloadText: `{"payload":{},"event":"f","type":"broadcast","meta":{"id":"${ID}"}}`,
        },
      ],
    });
  });

  it('answers changeset errors, one object per message', () => {
    const body = JSON.stringify({
      messages: [
        { topic: 'r' },
        { event: 'e', payload: [1] },
        { topic: 'r', event: 'e', payload: {} },
        { topic: 'r', event: 'e', payload: { big: 'x'.repeat(200) }, id: 'nope', private: 3 },
      ],
    });
    expect(parseBatch(body, limits)).toEqual({
      status: 422,
      body: JSON.stringify({
        errors: {
          messages: [
            { event: ["can't be blank"], payload: ["can't be blank"] },
            { topic: ["can't be blank"], payload: ['is invalid'] },
            {},
            {
              private: ['is invalid'],
              id: ['is invalid'],
              payload: ['Payload size exceeds tenant limit'],
            },
          ],
        },
      }),
    });
  });

  it.each([
    ['{}', "can't be blank"],
    ['{"messages":[]}', "can't be blank"],
    ['[1]', "can't be blank"],
    ['{"messages":{}}', 'is invalid'],
  ])('refuses %s without messages', (body, error) => {
    expect(parseBatch(body, limits)).toEqual({
      status: 422,
      body: JSON.stringify({ errors: { messages: [error] } }),
    });
  });

  it('bounds the batch', () => {
    const one = { topic: 't', event: 'e', payload: {} };
    const body = JSON.stringify({ messages: Array.from({ length: MAX_BATCH_MESSAGES + 1 }, () => one) });
    expect(parseBatch(body, limits)).toMatchObject({ status: 422 });
  });

  it('refuses invalid JSON and deep nesting with 400 before parsing', () => {
    expect(parseBatch('{"messages":', limits)).toEqual({
      status: 400,
      body: '{"message":"Invalid JSON body"}',
    });
    const deep = `{"messages":[{"topic":"t","event":"e","payload":{"a":[[[[1]]]]}}]}`;
    expect(parseBatch(deep, limits)).toMatchObject({ status: 400 });
  });
});

describe('parseSingle', () => {
  const base = { subtopic: 'room', event: 'e', isPrivate: false };

  it('sends a JSON object as a user broadcast, re-encoded', () => {
    expect(parseSingle({ ...base, kind: 'json', body: Buffer.from(' { "a" : 1 } ') }, limits)).toEqual({
      subtopic: 'room',
      isPrivate: false,
      header: { shape: 'user', event: 'e', enc: 'json' },
      payloadText: '{"a":1}',
    });
    expect(parseSingle({ ...base, kind: 'json', body: Buffer.alloc(0) }, limits)).toMatchObject({
      payloadText: '{}',
    });
  });

  it('sends bytes as base64', () => {
    expect(parseSingle({ ...base, kind: 'binary', body: Buffer.from([1, 2, 3]) }, limits)).toMatchObject({
      header: { shape: 'user', event: 'e', enc: 'binary' },
      payloadText: 'AQID',
    });
  });

  it('refuses a payload that is not an object, or too large', () => {
    expect(parseSingle({ ...base, kind: 'json', body: Buffer.from('[1]') }, limits)).toEqual({
      status: 422,
      body: '{"errors":{"payload":["is invalid"]}}',
    });
    expect(parseSingle({ ...base, kind: 'binary', body: Buffer.alloc(101) }, limits)).toEqual({
      status: 422,
      body: '{"errors":{"payload":["Payload size exceeds tenant limit"]}}',
    });
  });
});

describe('singleBodyKind', () => {
  it.each([
    ['', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['Application/Octet-Stream', 'binary'],
    ['text/plain', null],
  ])('%s → %s', (type, kind) => expect(singleBodyKind(type)).toBe(kind));
});

describe('requestToken', () => {
  it('prefers a bearer token, else the apikey header', () => {
    expect(requestToken('Bearer abc', 'key')).toBe('abc');
    expect(requestToken('bearer  abc ', '')).toBe('abc');
    expect(requestToken('Basic xyz', 'key')).toBe('key');
    expect(requestToken('', ' ')).toBeNull();
  });
});

describe('TokenBucket.takeMany', () => {
  it('takes a whole batch or nothing', () => {
    const rate = new TokenBucket(10, 0);
    expect(rate.takeMany(0, 11)).toBe('short');
    expect(rate.takeMany(0, 8)).toBe('ok');
    expect(rate.takeMany(0, 3)).toBe('short');
    expect(rate.takeMany(0, 2)).toBe('ok');
    expect(rate.takeMany(0, 1)).toBe('empty');
    expect(rate.takeMany(100, 1)).toBe('ok');
  });
});
