import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';

import { onProcessExit } from './exit-cleanup';
import { OrphanGuard } from './orphan-guard';
import { isProcessAlive, killTreeSync, listChildPids, waitForPidsGone } from './process-tree';
import { serverEnv } from './run-command';
import type { ServerUser } from './server-user';

/** How a {@link ManagedProcess} ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Options for {@link ManagedProcess.spawn}. */
export interface ManagedProcessOptions {
  command: string;
  args: string[];
  /** stdout and stderr are appended to this file. */
  logFile: string;
  /** Run as this account (requires root); `null`/absent runs as the current user. */
  user?: ServerUser | null;
  /** Signal the orphan guard sends first when this process outlives its parent. */
  guardSignal: NodeJS.Signals;
  /** Paths the orphan guard removes after killing the orphan. */
  guardRemovePaths?: string[];
}

/**
 * A long-running server child (postmaster, redis-server) that cannot outlive the current process.
 *
 * Guarantees: the child runs in its own process group with output going to a file, so it never
 * keeps the event loop alive, and terminal signals do not reach it. It is SIGKILLed with its direct
 * children from a `process.on('exit')` hook, and an {@link OrphanGuard} covers the cases where
 * that hook cannot run.
 */
export class ManagedProcess {
  readonly exited: Promise<ProcessExit>;
  private exit: ProcessExit | null = null;

  private constructor(
    private readonly child: ChildProcess,
    readonly pid: number,
    guard: OrphanGuard,
  ) {
    const unregister = onProcessExit(() => {
      if (this.isRunning()) killTreeSync(this.pid);
    });
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        guard.disarm();
        unregister();
        resolve(this.exit);
      });
    });
  }

  /** Spawns the child; rejects when the binary cannot be executed (ENOENT, EACCES). */
  static async spawn(opts: ManagedProcessOptions): Promise<ManagedProcess> {
    const fd = openSync(opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(opts.command, opts.args, {
        detached: true,
        stdio: ['ignore', fd, fd],
        env: serverEnv(),
        ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
      });
    } finally {
      closeSync(fd);
    }
    await once(child, 'spawn'); // rejects with the spawn error (ENOENT, EACCES)
    child.on('error', () => {
      // after a successful spawn this only reports a failed kill(); isRunning() tells the truth
    });
    if (child.pid === undefined) throw new Error(`${opts.command} did not start`);
    child.unref();
    const guard = OrphanGuard.arm({
      pid: child.pid,
      signal: opts.guardSignal,
      graceMs: 5000,
      removePaths: opts.guardRemovePaths ?? [],
    });
    return new ManagedProcess(child, child.pid, guard);
  }

  /** True until the child has exited. */
  isRunning(): boolean {
    return this.exit === null;
  }

  /** Sends `signal` to the child; returns false when it is already gone. */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.isRunning()) return false;
    return this.child.kill(signal);
  }

  /** Resolves `true` once the child has exited, or `false` after `timeoutMs`. */
  async waitForExit(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const result = await Promise.race([this.exited.then(() => true as const), timeout]);
    clearTimeout(timer);
    return result;
  }

  /**
   * SIGKILLs the child and its direct children (a crash, not a shutdown), then waits until all of
   * them are gone, so that a new server can reuse the port, data directory and shared memory.
   */
  async killTree(timeoutMs = 10_000): Promise<void> {
    const pids = this.isRunning() ? killTreeSync(this.pid) : [];
    await this.waitForExit(timeoutMs);
    if (!(await waitForPidsGone(pids, timeoutMs))) {
      throw new Error(`processes ${pids.filter(isProcessAlive).join(', ')} survived SIGKILL`);
    }
  }

  /** Direct children of the child process (for diagnostics). */
  childPids(): number[] {
    return this.isRunning() ? listChildPids(this.pid) : [];
  }
}
