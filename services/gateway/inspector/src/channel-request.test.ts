// The inspector's form checks: what supabase-js gets for each form, and the problems it lists.
import { channelRequest, jsonObject, type ChannelFields } from './channel-request';

const FORM: ChannelFields = {
  channel: 'room1',
  token: '',
  isPrivate: false,
  bindings: [{ schema: 'public', table: 'users', event: '*', filter: '' }],
  broadcast: true,
  broadcastSelf: true,
  broadcastAck: false,
  presence: true,
  presenceKey: '',
};

describe('channelRequest', () => {
  it('turns the form into the join config and bindings supabase-js takes', () => {
    expect(channelRequest({ ...FORM, token: ' t0k ', isPrivate: true, presenceKey: ' alice ' })).toEqual({
      ok: true,
      value: {
        name: 'room1',
        token: 't0k',
        config: {
          private: true,
          broadcast: { self: true, ack: false },
          presence: { key: 'alice', enabled: true },
        },
        bindings: [{ event: '*', schema: 'public', table: 'users' }],
        listensToBroadcast: true,
        listensToPresence: true,
      },
    });
  });

  it('sends no token when none is typed, and leaves out an empty table and filter', () => {
    const checked = channelRequest({
      ...FORM,
      bindings: [{ schema: ' public ', table: ' ', event: 'insert', filter: '' }],
    });
    expect(checked).toMatchObject({
      ok: true,
      value: { token: null, bindings: [{ event: 'INSERT', schema: 'public' }] },
    });
    expect(checked.ok && checked.value.bindings[0]).not.toHaveProperty('table');
  });

  it('keeps a filter with its table', () => {
    const checked = channelRequest({
      ...FORM,
      bindings: [{ schema: 'public', table: 'todos', event: 'UPDATE', filter: 'id=gt.10' }],
    });
    expect(checked.ok && checked.value.bindings).toEqual([
      { event: 'UPDATE', schema: 'public', table: 'todos', filter: 'id=gt.10' },
    ]);
  });

  it('drops a typed realtime: prefix, which supabase-js adds itself', () => {
    expect(channelRequest({ ...FORM, channel: 'realtime:public:users' })).toMatchObject({
      ok: true,
      value: { name: 'public:users' },
    });
  });

  it('lists every problem, naming the field', () => {
    expect(
      channelRequest({
        ...FORM,
        channel: '  ',
        bindings: [
          { schema: '', table: 'x', event: '*', filter: '' },
          { schema: 'public', table: '', event: 'UPSERT', filter: 'id=eq.1' },
        ],
      }),
    ).toEqual({
      ok: false,
      problems: [
        'Channel: enter a name, e.g. room1 or public:users',
        'Postgres changes 1: enter a schema (public, or * for every schema)',
        'Postgres changes 2: the event must be one of *, INSERT, UPDATE, DELETE',
        'Postgres changes 2: a filter needs a table',
      ],
    });
  });

  it('asks for something to listen to', () => {
    expect(channelRequest({ ...FORM, bindings: [], broadcast: false, presence: false })).toEqual({
      ok: false,
      problems: ['Listen to something: add a Postgres changes binding, or tick broadcast or presence'],
    });
    expect(channelRequest({ ...FORM, bindings: [], presence: false }).ok).toBe(true);
  });
});

describe('jsonObject', () => {
  it('parses an object, and an empty box as {}', () => {
    expect(jsonObject('{"a": [1, 2]}', 'Payload')).toEqual({ ok: true, value: { a: [1, 2] } });
    expect(jsonObject('  ', 'Payload')).toEqual({ ok: true, value: {} });
  });

  it.each([
    ['[1]', 'Payload: must be a JSON object, like {"message": "hello"}'],
    ['"text"', 'Payload: must be a JSON object, like {"message": "hello"}'],
    ['null', 'Payload: must be a JSON object, like {"message": "hello"}'],
  ])('refuses %s', (text, problem) => {
    expect(jsonObject(text, 'Payload')).toEqual({ ok: false, problems: [problem] });
  });

  it('says why text is not JSON', () => {
    const checked = jsonObject('{a: 1}', 'Payload');
    expect(checked.ok).toBe(false);
    expect(!checked.ok && checked.problems[0]).toMatch(/^Payload: not JSON \(.+\)$/);
  });
});
