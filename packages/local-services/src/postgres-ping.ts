import { connect } from 'node:net';

/**
 * What a server's first reply to a startup packet says about it:
 * - `ready`: it accepts connections (authentication requested or completed, or a non-startup error
 *   such as a wrong password, which still proves that the server is up), like `pg_isready`'s `OK`;
 * - `starting`: SQLSTATE 57P03, the server is starting up, shutting down or recovering;
 * - `incomplete`: more bytes are needed;
 * - `invalid`: not a PostgreSQL v3 reply.
 */
export type PostgresGreeting = 'ready' | 'starting' | 'incomplete' | 'invalid';

/** Builds a protocol-3.0 StartupMessage for `user` and `database`. */
export function startupMessage(user: string, database: string): Buffer {
  const body = Buffer.from(`user\0${user}\0database\0${database}\0\0`, 'utf8');
  const msg = Buffer.alloc(8 + body.length);
  msg.writeInt32BE(msg.length, 0);
  msg.writeInt32BE(196608, 4);
  body.copy(msg, 8);
  return msg;
}

/** Interprets the first message a server sends after a StartupMessage. Pure. */
export function interpretGreeting(buf: Buffer): PostgresGreeting {
  if (buf.length < 5) return 'incomplete';
  const type = String.fromCharCode(buf[0] ?? 0);
  const length = buf.readInt32BE(1);
  if ((type !== 'R' && type !== 'E') || length < 4 || length > 1 << 20) return 'invalid';
  if (type === 'R') return 'ready';
  if (buf.length < 1 + length) return 'incomplete';
  const fields = buf
    .subarray(5, 1 + length)
    .toString('utf8')
    .split('\0');
  const sqlState = fields.find((f) => f.startsWith('C'))?.slice(1);
  return sqlState === '57P03' ? 'starting' : 'ready';
}

/**
 * Probes a PostgreSQL server at the protocol level, without a driver: connects over TCP, sends a
 * StartupMessage and reads the first reply. Resolves `'unreachable'` when the TCP connection fails or
 * nothing valid arrives within `timeoutMs` (default 2000). Never rejects. The connection is closed
 * with a Terminate message, so the server logs nothing for a successful probe.
 */
export function pingPostgres(opts: {
  host: string;
  port: number;
  user?: string;
  database?: string;
  timeoutMs?: number;
}): Promise<'ready' | 'starting' | 'unreachable'> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    const socket = connect({ host: opts.host, port: opts.port });
    const finish = (result: 'ready' | 'starting' | 'unreachable'): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (result === 'ready' && socket.writable) socket.end(Buffer.from([0x58, 0, 0, 0, 4]));
      else socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish('unreachable'), opts.timeoutMs ?? 2000);
    socket.on('error', () => finish('unreachable'));
    socket.on('close', () => finish('unreachable'));
    socket.on('connect', () =>
      socket.write(startupMessage(opts.user ?? 'postgres', opts.database ?? 'postgres')),
    );
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const greeting = interpretGreeting(received);
      if (greeting === 'ready' || greeting === 'starting') finish(greeting);
      else if (greeting === 'invalid') finish('unreachable');
    });
  });
}
