import { connect } from 'node:net';

/**
 * Sends `PING` to a Redis server over a raw TCP socket and resolves `true` when it answers `+PONG`
 * within `timeoutMs` (default 2000). Resolves `false` on any failure, including `-LOADING` or
 * `-NOAUTH` replies. Never rejects.
 */
export function pingRedis(opts: { host: string; port: number; timeoutMs?: number }): Promise<boolean> {
  return sendRedisCommand({
    host: opts.host,
    port: opts.port,
    timeoutMs: opts.timeoutMs ?? 2000,
    command: 'PING',
  }).then((reply) => reply === '+PONG');
}

/**
 * Sends one inline command (e.g. `SHUTDOWN NOSAVE`) and resolves with the first reply line without
 * its CRLF, or `null` when the connection fails, closes without a reply, or times out. Never rejects.
 */
export function sendRedisCommand(opts: {
  host: string;
  port: number;
  command: string;
  timeoutMs?: number;
}): Promise<string | null> {
  return new Promise((resolve) => {
    let received = '';
    const socket = connect({ host: opts.host, port: opts.port });
    const finish = (reply: string | null): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => finish(null), opts.timeoutMs ?? 2000);
    socket.setEncoding('utf8');
    socket.on('error', () => finish(null));
    socket.on('close', () => finish(null));
    socket.on('connect', () => socket.write(`${opts.command}\r\n`));
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\r\n');
      if (end >= 0) finish(received.slice(0, end));
    });
  });
}
