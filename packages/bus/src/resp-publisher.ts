/**
 * A publish-only Redis connection that writes RESP itself: the hot path of the ingester. ioredis
 * spends several microseconds of CPU per command (a Command object, a promise, argument
 * conversion, a string built per pipeline); here a PUBLISH is a few bytes copied into the current
 * output chunk, and every PUBLISH issued in one event-loop turn goes out in one socket write.
 * Imports only node:net, node:tls and its RESP encoder and reply reader.
 *
 * Invariants:
 * - Replies arrive in command order (RESP2, no pub/sub on this connection), so the n-th reply
 *   settles the n-th pending unit. A unit is one command, answered by one reply (a line, a bulk
 *   string or an array; resp-reply-reader.ts), or one transaction: MULTI, its commands and EXEC,
 *   answered by `+OK`, one `+QUEUED` per command and EXEC's reply (an array of the commands'
 *   replies, some of which may be errors: a command that failed alone), and settled by that last
 *   reply only. A transaction is written as one unit and written again as one unit after a
 *   reconnect (Redis discards a transaction whose connection closed before EXEC), never in part.
 * - Scripts named in `scripts` are loaded (SCRIPT LOAD) on every connection before anything else is
 *   sent, so EVALSHA finds them; if Redis forgot one anyway (SCRIPT FLUSH), the NOSCRIPT reply
 *   closes the connection and the command and everything after it are sent again after the
 *   reconnect has loaded the scripts again.
 * - A publish resolves only when Redis answered it; it rejects only when Redis answered with an
 *   error or the publisher was closed. While the connection is down, publishes queue and the
 *   connection is retried; commands that were written but not answered are written again after the
 *   reconnect (at least once, as ioredis's `autoResendUnfulfilledCommands`). The caller bounds what
 *   it has in flight, so the queue is bounded by the caller.
 * - An output buffer is reused only once every command written from it was answered: Redis has
 *   read those bytes, so no pending socket write still reads them.
 */
import { createHash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { RespBuffer, encodeCommand } from './resp-buffer';
import { RespReplyReader } from './resp-reply-reader';

export type RespPublisherStatus = 'connecting' | 'ready' | 'reconnecting' | 'closed';

export interface RespPublisherOptions {
  /** `redis://[user:password@]host[:port][/db]` or `rediss://…` (TLS). */
  url: string;
  /** Sent as CLIENT SETNAME (shown in CLIENT LIST). */
  name?: string;
  /** Milliseconds to wait before reconnect attempt `attempt` (0-based). */
  retryDelayMs(attempt: number): number;
  onStatus(status: RespPublisherStatus): void;
  onError(err: Error): void;
  /** Lua scripts to load on every connection (their bodies; EVALSHA them by {@link scriptSha}). */
  scripts?: readonly string[];
}

/** A contiguous run of encoded commands and the offsets where each ends. */
interface Chunk {
  buf: Buffer;
  /** Bytes used in `buf`. */
  used: number;
  /** `ends[i]`: the offset just after command i. */
  ends: number[];
  /** Commands of this chunk already answered (only the first chunk in flight has any). */
  answered: number;
  /** The buffer `buf` is part of (a chunk may be the unused rest of an earlier one's). */
  root: RootBuffer;
}

/** An allocated buffer and how many chunks (unsent, or written and not wholly answered) use it. */
interface RootBuffer {
  buf: Buffer;
  users: number;
}

/**
 * Settles one unit; `null` for connection set-up commands, whose errors close the connection. A
 * transaction's has `replies` (its commands plus 2) and counts them down in `left`.
 */
type Pending = {
  resolve(): void;
  reject(err: Error): void;
  replies?: number;
  left?: number;
  /** A transaction's first refused command (EXEC then answers EXECABORT), or EXEC's element errors. */
  queueError?: string;
  elementErrors?: readonly string[];
} | null;

const MULTI = Buffer.from('*1\r\n$5\r\nMULTI\r\n');
const EXEC = Buffer.from('*1\r\n$4\r\nEXEC\r\n');

/**
 * Most history batches fit in one chunk: a transaction of 1,000 changes of ~800 bytes is ~1.7 MB (each
 * message is sent twice, in its PUBLISH and in its pack's XADD).
 */
const CHUNK_SIZE = 2 * 1024 * 1024;
/**
 * Buffers of CHUNK_SIZE kept for reuse once every command in them was answered: a fresh buffer
 * each time cost page faults (the allocator gives freed memory back to the system and takes it
 * again), a tenth to a fifth of the ingester's CPU in a replay of 200k changes.
 */
const MAX_SPARE_BUFFERS = 4;
/** While a write is unanswered, up to this much waits for its replies before being written. */
const HOLD_BYTES = 64 * 1024;
/** A buffer's unused rest is reused for the next chunk when at least this large. */
const MIN_TAIL = 16 * 1024;

/** The SHA1 that EVALSHA names a script by. */
export function scriptSha(body: string): string {
  return createHash('sha1').update(body).digest('hex');
}

export class RespPublisher {
  private socket: Socket | null = null;
  private currentStatus: RespPublisherStatus = 'connecting';
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Chunks written to the socket, oldest first, with unanswered commands. */
  private readonly written: Chunk[] = [];
  /** Chunks waiting to be written (the last one is still being filled). */
  private readonly unsent: Chunk[] = [];
  private flushScheduled = false;
  /** Pending replies in command order, from `head`; set-up commands included. */
  private pending: Pending[] = [];
  private head = 0;
  private readonly replies = new RespReplyReader();
  /** Buffers of CHUNK_SIZE no longer used, for the next chunks. */
  private readonly spare: Buffer[] = [];
  /** Set-up replies (AUTH, CLIENT SETNAME) still awaited on the current connection. */
  private handshake = 0;
  private readonly topicHeaders = new Map<string, Buffer>();
  private readonly target: { host: string; port: number; tls: boolean; auth: string[] | null };

  constructor(private readonly opts: RespPublisherOptions) {
    const url = new URL(opts.url);
    const password = decodeURIComponent(url.password);
    const username = decodeURIComponent(url.username);
    this.target = {
      host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
      port: Number(url.port || 6379),
      tls: url.protocol === 'rediss:',
      auth: password ? (username ? [username, password] : [password]) : null,
    };
    this.connect();
  }

  get status(): RespPublisherStatus {
    return this.currentStatus;
  }

  /** Commands issued and not answered yet. */
  get pendingCount(): number {
    return this.pending.length - this.head;
  }

  /** Resolves when Redis answered this PUBLISH. */
  publish(topic: string, message: string): Promise<void> {
    if (this.currentStatus === 'closed') return Promise.reject(new Error('publisher is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.appendPublish(topic, message);
    });
  }

  /** Resolves when Redis answered a PING on this connection. */
  ping(): Promise<void> {
    return this.command(['PING']);
  }

  /**
   * Sends any command, in order with the publishes; resolves when Redis answered it (the reply's
   * value is not kept).
   */
  command(args: readonly string[]): Promise<void> {
    const bulks = new RespBuffer(256);
    for (const arg of args) bulks.bulk(arg);
    return this.commandParts(args.length, [bulks.view()]);
  }

  /**
   * Sends a command of `count` arguments given already encoded: `parts`, concatenated, are its
   * `count` bulk strings (see resp-buffer.ts). The parts are copied before this returns. Settles as
   * {@link command}.
   */
  commandParts(count: number, parts: readonly Buffer[]): Promise<void> {
    if (this.currentStatus === 'closed') return Promise.reject(new Error('publisher is closed'));
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      const header = `*${count}\r\n`;
      let length = header.length;
      for (const part of parts) length += part.length;
      const chunk = this.chunkWithRoom(length);
      chunk.used += chunk.buf.write(header, chunk.used, 'latin1');
      for (const part of parts) {
        chunk.buf.set(part, chunk.used);
        chunk.used += part.length;
      }
      chunk.ends.push(chunk.used);
      this.scheduleFlush();
    });
  }

  /**
   * Sends `commands` commands given already encoded (`parts`, concatenated: each command a RESP
   * array of bulk strings) as one transaction, MULTI before them and EXEC after; the parts are
   * copied before this returns. Resolves once EXEC answered with its array, with the errors among
   * its elements (the commands that failed alone); rejects when EXEC answered with an error (e.g.
   * EXECABORT: a command was refused when queued, then nothing ran) or the publisher was closed.
   */
  transaction(commands: number, parts: readonly Buffer[]): Promise<readonly string[]> {
    if (this.currentStatus === 'closed') return Promise.reject(new Error('publisher is closed'));
    return new Promise((resolve, reject) => {
      const unit: NonNullable<Pending> = {
        resolve: () => resolve(unit.elementErrors ?? []),
        reject,
        replies: commands + 2,
        left: commands + 2,
      };
      this.pending.push(unit);
      let length = MULTI.length + EXEC.length;
      for (const part of parts) length += part.length;
      const chunk = this.chunkWithRoom(length);
      chunk.buf.set(MULTI, chunk.used);
      chunk.used += MULTI.length;
      for (const part of parts) {
        chunk.buf.set(part, chunk.used);
        chunk.used += part.length;
      }
      chunk.buf.set(EXEC, chunk.used);
      chunk.used += EXEC.length;
      chunk.ends.push(chunk.used);
      this.scheduleFlush();
    });
  }

  /** Stops at once: pending publishes reject, the socket is destroyed. */
  close(): void {
    if (this.currentStatus === 'closed') return;
    this.setStatus('closed');
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
    this.socket = null;
    const err = new Error('publisher is closed');
    for (let i = this.head; i < this.pending.length; i++) this.pending[i]?.reject(err);
    this.pending = [];
    this.head = 0;
    this.written.length = 0;
    this.unsent.length = 0;
  }

  private appendPublish(topic: string, message: string): void {
    let header = this.topicHeaders.get(topic);
    if (header === undefined) {
      const t = Buffer.from(topic);
      header = Buffer.from(`*3\r\n$7\r\nPUBLISH\r\n$${t.length}\r\n${topic}\r\n`);
      this.topicHeaders.set(topic, header);
    }
    const length = Buffer.byteLength(message);
    const chunk = this.chunkWithRoom(header.length + length + 16);
    let at = chunk.used;
    at += header.copy(chunk.buf, at);
    at += chunk.buf.write(`$${length}\r\n`, at, 'latin1');
    at += chunk.buf.write(message, at);
    chunk.buf[at++] = 0x0d;
    chunk.buf[at++] = 0x0a;
    chunk.used = at;
    chunk.ends.push(at);
    this.scheduleFlush();
  }

  private chunkWithRoom(bytes: number): Chunk {
    const last = this.unsent[this.unsent.length - 1];
    if (last && last.buf.length - last.used >= bytes) return last;
    const size = Math.max(CHUNK_SIZE, bytes);
    const buf = (size === CHUNK_SIZE ? this.spare.pop() : undefined) ?? Buffer.allocUnsafe(size);
    const chunk: Chunk = { buf, used: 0, ends: [], answered: 0, root: { buf, users: 1 } };
    this.unsent.push(chunk);
    return chunk;
  }

  /** A chunk is done with (wholly answered, or dropped empty): its buffer may be reused. */
  private release(chunk: Chunk): void {
    const root = chunk.root;
    if (--root.users > 0 || root.buf.length !== CHUNK_SIZE) return;
    if (this.spare.length < MAX_SPARE_BUFFERS) this.spare.push(root.buf);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // After the I/O callbacks of this loop iteration: what several socket reads produced goes out in
    // one write (one syscall per chunk, not one per read of the replication stream).
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /**
   * Writes every unsent chunk (when connected); a written chunk waits in `written` for its replies.
   * While an earlier write is unanswered, less than {@link HOLD_BYTES} is held back until its
   * replies arrive (as Nagle's algorithm does): under load one write carries many turns' publishes
   * instead of one syscall (and one Redis read) per turn; when idle nothing waits.
   */
  private flush(): void {
    if (this.currentStatus !== 'ready' || !this.socket) return;
    if (this.written.length > 0 && this.unsentBytes() < HOLD_BYTES) return;
    const socket = this.socket;
    let last: Chunk | undefined;
    for (const chunk of this.unsent) {
      if (chunk.used === 0) {
        this.release(chunk);
        continue;
      }
      socket.write(chunk.buf.subarray(chunk.answered === 0 ? 0 : chunk.ends[chunk.answered - 1], chunk.used));
      this.written.push(chunk);
      last = chunk;
    }
    this.unsent.length = 0;
    // The rest of the last buffer is filled next (the written part is never touched again).
    if (last && last.buf.length - last.used >= MIN_TAIL) {
      last.root.users++;
      this.unsent.push({
        buf: last.buf.subarray(last.used),
        used: 0,
        ends: [],
        answered: 0,
        root: last.root,
      });
    }
  }

  private unsentBytes(): number {
    let bytes = 0;
    for (const chunk of this.unsent)
      bytes += chunk.used - (chunk.answered === 0 ? 0 : chunk.ends[chunk.answered - 1]!);
    return bytes;
  }

  private connect(): void {
    const { host, port, tls } = this.target;
    const socket = tls ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.once(tls ? 'secureConnect' : 'connect', () => this.onConnected(socket));
    socket.on('data', (data: Buffer) => {
      if (this.socket === socket) this.onData(data);
    });
    socket.on('error', (err: Error) => this.opts.onError(err));
    socket.once('close', () => this.onClose(socket));
  }

  private onConnected(socket: Socket): void {
    if (this.socket !== socket) return;
    // Set-up commands go alone; publishes (queued, or unanswered on the previous connection) wait
    // until every one of them succeeded, so none runs unauthenticated or as another user.
    const setup: string[][] = [];
    if (this.target.auth) setup.push(['AUTH', ...this.target.auth]);
    if (this.opts.name) setup.push(['CLIENT', 'SETNAME', this.opts.name.replace(/\s/g, '_')]);
    for (const body of this.opts.scripts ?? []) setup.push(['SCRIPT', 'LOAD', body]);
    this.pending = [...setup.map((): Pending => null), ...this.pending.slice(this.head)];
    this.head = 0;
    this.replies.reset();
    this.handshake = setup.length;
    if (setup.length === 0) {
      this.becomeReady();
      return;
    }
    socket.write(setup.map(encodeCommand).join(''));
  }

  /** The connection is usable: publishes flow. */
  private becomeReady(): void {
    this.attempt = 0;
    this.setStatus('ready');
    this.flush();
  }

  private onData(data: Buffer): void {
    const socket = this.socket;
    // A NOSCRIPT reply replaces the connection: what follows it is not read.
    this.replies.read(data, (error, elementErrors) => {
      this.settleNext(error, elementErrors);
      return this.socket === socket;
    });
    // Everything written is answered: what was held back goes now.
    if (this.written.length === 0 && this.unsent.length > 0) this.flush();
  }

  private settleNext(error: string | null, elementErrors: readonly string[]): void {
    const unit = this.pending[this.head];
    if (unit?.left !== undefined && unit.left > 1) {
      // MULTI's or a command's reply within a transaction: the unit waits for EXEC's.
      unit.left--;
      if (error !== null) unit.queueError ??= error;
      return;
    }
    if (error !== null && error.startsWith('NOSCRIPT') && unit !== null) {
      // Redis forgot a script: this command stays unanswered, and it and everything after it are
      // sent again once a new connection has loaded the scripts.
      this.opts.onError(new Error(`redis: ${error}; reconnecting to load the scripts again`));
      const socket = this.socket;
      if (socket) this.onClose(socket);
      socket?.destroy();
      return;
    }
    const p = this.pending[this.head];
    this.pending[this.head++] = null;
    if (this.head > 4096 && this.head * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.head);
      this.head = 0;
    }
    this.markAnswered();
    if (p === null || p === undefined) {
      if (error !== null) {
        this.opts.onError(new Error(`redis: ${error}`));
        this.socket?.destroy();
      } else if (this.handshake > 0 && --this.handshake === 0) {
        this.becomeReady();
      }
    } else if (error !== null) {
      p.reject(new Error(`redis: ${p.queueError !== undefined ? `${p.queueError} (${error})` : error}`));
    } else {
      if (elementErrors.length > 0) p.elementErrors = elementErrors;
      p.resolve();
    }
  }

  private markAnswered(): void {
    const chunk = this.written[0];
    if (!chunk) return;
    chunk.answered++;
    if (chunk.answered === chunk.ends.length) this.release(this.written.shift()!);
  }

  private onClose(socket: Socket): void {
    if (this.socket !== socket) return;
    this.socket = null;
    if (this.currentStatus === 'closed') return;
    this.setStatus('reconnecting');
    // Set-up commands of the lost connection are not resent (the next connection sends its own):
    // drop their pending entries; what was written and not answered is written again.
    this.pending = this.pending.slice(this.head).filter((p) => p !== null);
    this.head = 0;
    // A transaction partly answered starts again from its MULTI.
    for (const p of this.pending) {
      if (p?.replies !== undefined) {
        p.left = p.replies;
        delete p.queueError;
      }
    }
    this.handshake = 0;
    this.unsent.unshift(...this.written);
    this.written.length = 0;
    const delay = this.opts.retryDelayMs(this.attempt++);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.currentStatus !== 'closed') this.connect();
    }, delay);
  }

  private setStatus(status: RespPublisherStatus): void {
    if (status === this.currentStatus) return;
    this.currentStatus = status;
    this.opts.onStatus(status);
  }
}
