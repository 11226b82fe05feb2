// How each supabase-js callback payload reads in the inspector's event list.
import {
  broadcastInput,
  changeInput,
  presenceInput,
  socketInput,
  statusInput,
  systemInput,
} from './event-inputs';

describe('event inputs', () => {
  it('a change shows its table and new row; a delete its old row; errors mark it', () => {
    const insert = {
      schema: 'public',
      table: 'users',
      eventType: 'INSERT',
      new: { id: 1 },
      old: {},
      errors: null,
    };
    expect(changeInput(insert)).toEqual({
      kind: 'postgres_changes',
      event: 'INSERT',
      summary: 'public.users {"id":1}',
      detail: insert,
    });
    expect(changeInput({ ...insert, eventType: 'DELETE', new: {}, old: { id: 7 } }).summary).toBe(
      'public.users {"id":7}',
    );
    expect(changeInput({ ...insert, errors: ['Error 413: Payload too large'] }).isError).toBe(true);
  });

  it('a broadcast shows its event and payload', () => {
    expect(broadcastInput({ type: 'broadcast', event: 'cursor', payload: { x: 1 } })).toMatchObject({
      kind: 'broadcast',
      event: 'cursor',
      summary: '{"x":1}',
    });
  });

  it('a presence join or leave shows the key and the fields, without presence_ref', () => {
    const join = {
      key: 'alice',
      newPresences: [{ presence_ref: 'r1', user: 'alice' }],
      currentPresences: [],
    };
    expect(presenceInput('join', join)).toMatchObject({
      kind: 'presence',
      event: 'join',
      summary: 'alice {"user":"alice"}',
    });
    const leave = {
      key: 'bob',
      leftPresences: [
        { presence_ref: 'r2', a: 1 },
        { presence_ref: 'r3', a: 2 },
      ],
    };
    expect(presenceInput('leave', leave).summary).toBe('bob [{"a":1},{"a":2}]');
  });

  it('a system message shows its extension and message; an error status marks it', () => {
    expect(
      systemInput({
        status: 'ok',
        extension: 'postgres_changes',
        message: 'Subscribed to PostgreSQL',
        channel: 'x',
      }),
    ).toMatchObject({ kind: 'system', event: 'ok', summary: 'postgres_changes: Subscribed to PostgreSQL' });
    expect(systemInput({ status: 'error', message: 'Too many messages per second' }).isError).toBe(true);
  });

  it('a join status shows the server’s reason when there is one, else what it means', () => {
    expect(statusInput('SUBSCRIBED')).toMatchObject({
      kind: 'channel',
      summary: 'joined: events will appear below',
    });
    expect(statusInput('CHANNEL_ERROR', new Error('InvalidFilter: unknown operator "zz"'))).toEqual({
      kind: 'channel',
      event: 'CHANNEL_ERROR',
      summary: 'InvalidFilter: unknown operator "zz"',
      detail: { status: 'CHANNEL_ERROR', reason: 'InvalidFilter: unknown operator "zz"' },
      isError: true,
    });
    expect(statusInput('TIMED_OUT').isError).toBe(true);
  });

  it('the socket: open (the token in the URL hidden), close with its code and reason, errors; chatter is left out', () => {
    expect(
      socketInput(
        'transport',
        'connected to ws://h/realtime/v1/websocket?apikey=secret&vsn=2.0.0',
        undefined,
      ),
    ).toMatchObject({
      event: 'open',
      summary: 'connected to ws://h/realtime/v1/websocket?apikey=…&vsn=2.0.0',
    });
    expect(socketInput('transport', 'close', { code: 4003, reason: 'idle timeout' })).toMatchObject({
      event: 'close',
      summary: 'closed with code 4003: idle timeout',
      isError: true,
    });
    expect(socketInput('transport', 'close', { code: 1006, reason: '' })!.summary).toMatch(/HTTP 403/);
    expect(socketInput('transport', 'close', { code: 1000, reason: '' })).not.toHaveProperty('isError');
    expect(socketInput('transport', 'error', {})).toMatchObject({ event: 'error', isError: true });
    expect(socketInput('push', 'realtime:x phx_join (1)', {})).toBeNull();
    expect(socketInput('transport', 'leaving duplicate topic "x"', {})).toBeNull();
  });
});
