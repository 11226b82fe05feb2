/**
 * The parent's side of `fanout-client.ts`: forks load-generator processes, each with its own
 * 127.0.0.x source address, and talks to them over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export class ClientProc {
  private waiters: Array<(m: Record<string, unknown>) => void> = [];
  readonly messages: Array<Record<string, unknown>> = [];
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Record<string, unknown>) => {
      this.messages.push(m);
      for (const w of this.waiters.splice(0)) w(m);
    });
  }

  static start(
    urls: readonly string[],
    sockets: number,
    localAddress: string,
    topic: string,
    joinPayload = '{}',
  ): ClientProc {
    const child = fork(join(__dirname, 'fanout-client.js'), [], {
      env: {
        PATH: process.env['PATH'] ?? '',
        URLS: urls.join(','),
        SOCKETS: String(sockets),
        TOPIC: topic,
        JOIN_PAYLOAD: joinPayload,
        LOCAL_ADDRESS: localAddress,
      },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new ClientProc(child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  send(msg: Record<string, unknown>): void {
    this.child.send(msg);
  }

  /** Resolves with the next message of `type` (or an already received one), rejects after timeoutMs. */
  next(type: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const found = this.messages.findIndex((m) => m['type'] === type || m['type'] === 'error');
    if (found >= 0) return Promise.resolve(this.check(this.messages.splice(found, 1)[0]!));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`client: no ${type} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const wait = (m: Record<string, unknown>): void => {
        if (m['type'] !== type && m['type'] !== 'error') {
          this.waiters.push(wait);
          return;
        }
        clearTimeout(timer);
        this.messages.splice(this.messages.indexOf(m), 1);
        try {
          resolve(this.check(m));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      this.waiters.push(wait);
    });
  }

  private check(m: Record<string, unknown>): Record<string, unknown> {
    if (m['type'] === 'error') throw new Error(`client: ${String(m['message'])}`);
    return m;
  }

  stop(): void {
    if (this.child.connected) this.send({ cmd: 'exit' });
    setTimeout(() => this.child.kill('SIGKILL'), 2000).unref();
  }
}

/** A set of client processes sharing `total` sockets; process i uses source address 127.0.0.(2+firstAddress+i). */
export class ClientFleet {
  private constructor(readonly procs: ClientProc[]) {}

  static start(
    urls: readonly string[],
    total: number,
    procCount: number,
    topic: string,
    firstAddress = 0,
    joinPayload = '{}',
  ): ClientFleet {
    const per = Math.ceil(total / procCount);
    const procs: ClientProc[] = [];
    for (let i = 0; i < procCount; i++) {
      const count = Math.min(per, total - i * per);
      if (count > 0)
        procs.push(ClientProc.start(urls, count, `127.0.0.${2 + firstAddress + i}`, topic, joinPayload));
    }
    return new ClientFleet(procs);
  }

  /** Sends `msg` to every process and resolves with each one's reply of `type`. */
  async ask(
    msg: Record<string, unknown>,
    type: string,
    timeoutMs: number,
  ): Promise<Array<Record<string, unknown>>> {
    for (const p of this.procs) p.send(msg);
    return Promise.all(this.procs.map((p) => p.next(type, timeoutMs)));
  }

  /** Opens (and, unless `join` is false, joins) every socket; returns how many are open. */
  async connect(join = true, timeoutMs = 120_000): Promise<number> {
    const ready = await this.ask({ cmd: 'connect', join }, 'ready', timeoutMs);
    return ready.reduce((a, r) => a + Number(r['sockets']), 0);
  }

  stop(): void {
    for (const p of this.procs) p.stop();
  }
}
