/**
 * A TCP proxy in front of one server, so that a test can cut a single client process off from it
 * (say one gateway from Redis) while every other process keeps its own connections: a real network
 * fault, seen by the client as its sockets reset and its reconnects refused, not a mock.
 *
 * Lifecycle: {@link TcpProxy.start} listens on a free port of 127.0.0.1; every accepted connection
 * is piped to a new connection to the target, both ways. {@link TcpProxy.cut} resets every open
 * connection (both sides) and, for the given time, resets each new connection as soon as it is
 * accepted; then connections pass again. {@link TcpProxy.close} resets everything and stops
 * listening.
 *
 * Invariants: a connection is piped only while the proxy is not cut; when either side of a piped
 * pair ends or fails, the other is destroyed too (a client never talks to a half-open pair).
 */
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/** Where the proxy forwards connections. */
export interface ProxyTarget {
  host: string;
  port: number;
}

export class TcpProxy {
  /** The address clients connect to instead of the target's (with {@link port}). */
  readonly host = '127.0.0.1';
  /** Connections accepted and piped to the target. */
  accepted = 0;
  /** Connections reset on arrival because the proxy was cut. */
  refused = 0;
  /** Open connections reset by {@link cut}. */
  severed = 0;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private cutUntil = 0;

  private constructor(
    private readonly server: Server,
    readonly target: ProxyTarget,
  ) {
    server.on('connection', (client: Socket) => this.accept(client));
  }

  /** Starts listening on a free port of 127.0.0.1. */
  static async start(target: ProxyTarget): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, target);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return proxy;
  }

  /** The port clients connect to instead of the target's. */
  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** True while connections are being refused. */
  get isCut(): boolean {
    return Date.now() < this.cutUntil;
  }

  /** Connections piped now. */
  get openConnections(): number {
    return this.pairs.size;
  }

  /**
   * Resets every open connection and refuses new ones for `ms`; resolves when connections pass
   * again. A cut during a cut extends it to the later end.
   */
  async cut(ms: number): Promise<void> {
    this.cutUntil = Math.max(this.cutUntil, Date.now() + ms);
    for (const pair of [...this.pairs]) {
      this.severed++;
      this.drop(pair);
    }
    while (this.isCut) await new Promise((resolve) => setTimeout(resolve, this.cutUntil - Date.now()));
  }

  /** Resets every connection and stops listening. Idempotent. */
  async close(): Promise<void> {
    this.cutUntil = Number.POSITIVE_INFINITY;
    for (const pair of [...this.pairs]) this.drop(pair);
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    if (this.isCut) {
      this.refused++;
      client.on('error', () => undefined); // the reset is the point; the client sees it, not us
      client.resetAndDestroy();
      return;
    }
    this.accepted++;
    const upstream = connect({ host: this.target.host, port: this.target.port });
    const pair = { client, upstream };
    this.pairs.add(pair);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
    // Either side ending or failing (target down, client gone) takes the other one with it.
    for (const socket of [client, upstream]) {
      socket.on('error', () => this.drop(pair));
      socket.on('close', () => this.drop(pair));
    }
  }

  private drop(pair: { client: Socket; upstream: Socket }): void {
    if (!this.pairs.delete(pair)) return;
    if (!pair.client.destroyed) pair.client.resetAndDestroy();
    if (!pair.upstream.destroyed) pair.upstream.destroy();
  }
}
