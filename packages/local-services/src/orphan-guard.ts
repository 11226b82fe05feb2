import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';

// The guard is a detached `sh` whose stdin is a pipe from this process. The pipe closes when this
// process exits for any reason, SIGKILL and jest workers included, and `read` then returns. The
// shell then terminates the guarded process (a zombie counts as gone), escalates to SIGKILL after
// the grace period, and removes the listed paths. Writing "disarm" makes it exit without acting.
const SCRIPT = `
trap '' INT HUP
IFS= read -r line
[ "$line" = disarm ] && exit 0
pid=$1; sig=$2; grace=$3; shift 3
alive() {
  kill -0 "$pid" 2>/dev/null || return 1
  state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -c1)
  [ "$state" != Z ]
}
kill -s "$sig" "$pid" 2>/dev/null
i=0
while alive && [ "$i" -lt "$grace" ]; do sleep 0.1; i=$((i+1)); done
kill -s KILL "$pid" 2>/dev/null
for path in "$@"; do rm -rf -- "$path"; done
`;

/** Options for {@link OrphanGuard.arm}. */
export interface OrphanGuardOptions {
  /** The process to terminate when the current process dies. */
  pid: number;
  /** First signal to send; SIGKILL follows after `graceMs`. Default `SIGTERM`. */
  signal?: NodeJS.Signals;
  /** Time the process gets to exit after `signal`. Default 5000. */
  graceMs?: number;
  /** Files or directories to delete afterwards (best effort). */
  removePaths?: string[];
}

/**
 * Makes sure a server process does not outlive the current process.
 *
 * `process.on('exit')` is not enough: it does not run on SIGKILL or on unhandled signals, and inside
 * jest test files `process` is a sandbox copy whose `exit` listeners never fire. The guard is a tiny
 * detached shell that notices this process's death through a closed pipe and then signals the
 * guarded pid. It does not keep the event loop alive. Call {@link OrphanGuard.disarm} once the
 * process has exited normally, so that the shell never signals a recycled pid.
 */
export class OrphanGuard {
  private isArmed = true;

  private constructor(private readonly stdin: Socket) {}

  /** Starts a guard for `opts.pid`. Costs one short-lived `sh` process (~1 MB). */
  static arm(opts: OrphanGuardOptions): OrphanGuard {
    const graceTicks = Math.ceil((opts.graceMs ?? 5000) / 100);
    const args = [String(opts.pid), (opts.signal ?? 'SIGTERM').replace(/^SIG/, ''), String(graceTicks)];
    const child = spawn(
      '/bin/sh',
      ['-c', SCRIPT, 'walcast-orphan-guard', ...args, ...(opts.removePaths ?? [])],
      {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
      },
    );
    child.on('error', () => {
      // spawning /bin/sh failed: the process keeps working, only the orphan protection is missing
    });
    child.unref();
    const stdin = child.stdin as Socket;
    stdin.on('error', () => {
      // EPIPE if the shell is already gone; nothing left to guard
    });
    stdin.unref();
    return new OrphanGuard(stdin);
  }

  /** Tells the guard that the process ended normally; the shell exits without signalling. */
  disarm(): void {
    if (!this.isArmed) return;
    this.isArmed = false;
    this.stdin.end('disarm\n');
  }
}
