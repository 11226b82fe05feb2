import { spawn, type ChildProcess } from 'node:child_process';

import { OrphanGuard } from '@walcast/local-services';

import { waitFor } from './wait-for';

/** Options for {@link spawnService}. */
export interface SpawnServiceOptions {
  /** Label used in error messages, e.g. `gateway-1`. */
  name: string;
  /** The script to run with `node`, e.g. `services/gateway/dist/main.js`. */
  entry: string;
  /** The service's environment, merged over a minimal `PATH`/`HOME` (nothing else is inherited). */
  env?: Record<string, string>;
  /** HTTP URL that answers 200 once the service is ready (used by waitForReady()). */
  readyUrl?: string;
  /** How long waitForReady() waits. Default 20 000. */
  readyTimeoutMs?: number;
  /** Extra arguments for `node` before the entry, e.g. `['--enable-source-maps']`. */
  nodeArgs?: string[];
  /** Arguments of the script, after the entry. */
  args?: string[];
}

/** How a service process ended. */
export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const STOP_GRACE_MS = 10_000;
const running = new Set<ChildProcess>();
let isExitHookInstalled = false;

/**
 * A service (`node <entry>`) under test, with its output captured.
 *
 * Guarantees: the child sees exactly `PATH`, `HOME` and the given env, so tests do not depend on the
 * developer's shell; every stdout/stderr line is kept in `lines` and every JSON line (pino) also
 * parsed into `logs`, in order; the child is killed when the test process exits, even by SIGKILL
 * or inside jest (via an {@link OrphanGuard}).
 */
export class ServiceProcess {
  /** Raw output lines (stdout and stderr interleaved as they arrive). */
  readonly lines: string[] = [];
  /** Output lines that parsed as JSON objects, i.e. pino log records. */
  readonly logs: Record<string, unknown>[] = [];
  /** Resolves when the process has exited and its output has been read to the end. */
  readonly exited: Promise<ServiceExit>;
  private exit: ServiceExit | null = null;

  constructor(
    private readonly child: ChildProcess,
    private readonly opts: SpawnServiceOptions,
  ) {
    const guard = OrphanGuard.arm({ pid: this.pid, signal: 'SIGKILL', graceMs: 0 });
    running.add(child);
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': it fires after stdout and stderr are drained, so `lines` is complete
      child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        this.exit = { code, signal };
        guard.disarm();
        running.delete(child);
        resolve(this.exit);
      });
    });
    for (const stream of [child.stdout, child.stderr]) stream?.setEncoding('utf8');
    this.captureLines(child.stdout);
    this.captureLines(child.stderr);
  }

  /** The child's pid. */
  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.opts.name} has no pid (spawn failed)`);
    return this.child.pid;
  }

  /** True until the process has exited. */
  isRunning(): boolean {
    return this.exit === null;
  }

  /**
   * Resolves with the first log record (past or future) matching `predicate`. Rejects when the
   * process exits without one, or after `timeoutMs`, with the last output lines in the message.
   */
  waitForLog(
    predicate: (log: Record<string, unknown>) => boolean,
    timeoutMs = 10_000,
  ): Promise<Record<string, unknown>> {
    const find = (): Record<string, unknown> | undefined => this.logs.find(predicate);
    return this.untilExit(
      'a matching log line',
      (signal) => waitFor(find, { timeoutMs, signal, intervalMs: 10 }),
      find,
    );
  }

  /** Polls `readyUrl` until it answers HTTP 200; rejects at once if the process exits first. */
  waitForReady(): Promise<void> {
    const url = this.opts.readyUrl;
    if (url === undefined) return Promise.reject(new Error(`${this.opts.name}: no readyUrl given`));
    const poll = async (): Promise<boolean> => {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
      return true;
    };
    const timeoutMs = this.opts.readyTimeoutMs ?? 20_000;
    return this.untilExit(`HTTP 200 from ${url}`, async (signal) => {
      await waitFor(poll, { timeoutMs, intervalMs: 50, signal });
    });
  }

  /** Sends `signal` (default SIGKILL) and resolves when the process has exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ServiceExit> {
    if (this.isRunning()) this.child.kill(signal);
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if the process is still alive after 10 s; resolves with the exit. */
  async stop(): Promise<ServiceExit> {
    if (!this.isRunning()) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  /** The last `n` output lines, for error messages. */
  tail(n = 20): string {
    return this.lines.slice(-n).join('\n');
  }

  /** Runs `wait` but rejects as soon as the process exits; errors carry the recent output. */
  private async untilExit<T>(
    what: string,
    wait: (signal: AbortSignal) => Promise<T>,
    finalCheck?: () => T | undefined,
  ): Promise<T> {
    const abort = new AbortController();
    const exitedFirst = this.exited.then((exit) => {
      const found = finalCheck?.(); // output is complete once `exited` resolves
      if (found !== undefined) return found;
      throw new Error(`exited (${JSON.stringify(exit)})`);
    });
    try {
      return await Promise.race([wait(abort.signal), exitedFirst]);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(
        `${this.opts.name}: waiting for ${what} failed: ${reason}\n--- last output ---\n${this.tail()}`,
        {
          cause: err,
        },
      );
    } finally {
      abort.abort();
      exitedFirst.catch(() => undefined); // the race is decided; this rejection is expected
    }
  }

  private captureLines(stream: NodeJS.ReadableStream | null): void {
    if (stream === null) return;
    let partial = '';
    stream.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) this.addLine(line);
    });
    stream.on('end', () => {
      if (partial !== '') this.addLine(partial);
      partial = '';
    });
  }

  private addLine(line: string): void {
    this.lines.push(line);
    if (!line.startsWith('{')) return;
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed === 'object' && parsed !== null) this.logs.push(parsed as Record<string, unknown>);
    } catch {
      // not JSON after all (e.g. a stack trace line starting with '{'); it is still in `lines`
    }
  }
}

/** Spawns `node <entry>` and resolves once the process has started (not once it is ready). */
export async function spawnService(opts: SpawnServiceOptions): Promise<ServiceProcess> {
  installExitHook();
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.entry, ...(opts.args ?? [])], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/tmp', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  child.on('error', () => {
    // after spawn this only reports a failed kill(); `exited` tells whether the process is gone
  });
  return new ServiceProcess(child, opts);
}

function installExitHook(): void {
  if (isExitHookInstalled) return;
  isExitHookInstalled = true;
  process.on('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}
