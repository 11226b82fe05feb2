import { interpretGreeting, startupMessage } from './postgres-ping';

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(4 + body.length, 1);
  return Buffer.concat([header, body]);
}

function errorResponse(sqlState: string): Buffer {
  return message('E', Buffer.from(`SFATAL\0C${sqlState}\0Mmessage\0\0`, 'utf8'));
}

describe('startupMessage', () => {
  it('encodes length, protocol 3.0 and the user/database pairs', () => {
    const msg = startupMessage('postgres', 'db');
    expect(msg.readInt32BE(0)).toBe(msg.length);
    expect(msg.readInt32BE(4)).toBe(196608);
    expect(msg.subarray(8).toString('utf8')).toBe('user\0postgres\0database\0db\0\0');
  });
});

describe('interpretGreeting', () => {
  it('treats any authentication request as ready', () => {
    const authOk = message('R', Buffer.from([0, 0, 0, 0]));
    const saslRequest = message('R', Buffer.from([0, 0, 0, 10, 0x53, 0]));
    expect(interpretGreeting(authOk)).toBe('ready');
    expect(interpretGreeting(saslRequest)).toBe('ready');
  });

  it('treats SQLSTATE 57P03 as starting', () => {
    expect(interpretGreeting(errorResponse('57P03'))).toBe('starting');
  });

  it('treats other errors (wrong password, unknown database) as ready: the server answered', () => {
    expect(interpretGreeting(errorResponse('28P01'))).toBe('ready');
    expect(interpretGreeting(errorResponse('3D000'))).toBe('ready');
  });

  it('asks for more bytes when the error is cut off', () => {
    const full = errorResponse('57P03');
    expect(interpretGreeting(full.subarray(0, 3))).toBe('incomplete');
    expect(interpretGreeting(full.subarray(0, full.length - 2))).toBe('incomplete');
  });

  it('rejects replies that are not PostgreSQL v3 messages', () => {
    expect(interpretGreeting(Buffer.from('HTTP/1.1 400 Bad Request'))).toBe('invalid');
  });
});
