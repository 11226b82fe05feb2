import { connect } from 'node:net';

/** A Redis error reply (`-ERR …`), returned rather than thrown: it is an answer, not a failure. */
export class RedisReplyError {
  constructor(readonly message: string) {}
}

/** A decoded RESP2 reply: status and bulk strings as strings, integers as numbers, nil as null. */
export type RespValue = string | number | null | RedisReplyError | RespValue[];

/**
 * Sends one command (as a RESP array, so arguments may hold spaces) on a fresh connection and
 * resolves with its whole reply. Rejects when the connection fails, closes early or `timeoutMs`
 * (default 2000) passes: the server is not answering. Used to set up and observe throwaway Redis
 * Clusters, where replies (CLUSTER NODES, INFO) span several lines.
 */
export function queryRedis(opts: {
  host: string;
  port: number;
  args: readonly string[];
  timeoutMs?: number;
}): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    let buffer = Buffer.alloc(0);
    const socket = connect({ host: opts.host, port: opts.port });
    const finish = (err: Error | null, value?: RespValue): void => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value ?? null);
    };
    const timer = setTimeout(
      () => finish(new Error(`redis ${opts.host}:${opts.port} did not answer ${opts.args[0]} in time`)),
      opts.timeoutMs ?? 2000,
    );
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish(new Error(`redis ${opts.host}:${opts.port} closed the connection`)));
    socket.on('connect', () => {
      let text = `*${opts.args.length}\r\n`;
      for (const a of opts.args) text += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      socket.write(text);
    });
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      try {
        const parsed = parseReply(buffer, 0);
        if (parsed) finish(null, parsed.value);
      } catch (err) {
        finish(err as Error);
      }
    });
  });
}

/** Parses one reply at `at`; null when `buffer` does not hold all of it yet. */
function parseReply(buffer: Buffer, at: number): { value: RespValue; end: number } | null {
  const lineEnd = buffer.indexOf('\r\n', at);
  if (lineEnd < 0) return null;
  const type = String.fromCharCode(buffer[at]!);
  const line = buffer.toString('utf8', at + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RedisReplyError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return null;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let pos = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, pos);
        if (!item) return null;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}
