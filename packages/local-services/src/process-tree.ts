import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** The fields of `/proc/<pid>/stat` that process management needs. */
export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
}

/**
 * Parses one `/proc/<pid>/stat` line. The command name is in parentheses and may itself contain
 * spaces and parentheses, so fields are read after the last `)`. Returns `null` for malformed input.
 */
export function parseProcStat(line: string): ProcStat | null {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(line.slice(0, open).trim());
  const [state, ppid] = line
    .slice(close + 1)
    .trim()
    .split(' ');
  if (!Number.isInteger(pid) || state === undefined || ppid === undefined) return null;
  return { pid, state, ppid: Number(ppid) };
}

/**
 * True when `pid` exists and is not a zombie. Zombies count as dead: they hold no memory, sockets or
 * shared-memory attachments, and an orphaned zombie may never be reaped inside a container whose
 * PID 1 does not wait for children.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = readStat(pid);
  return stat === null || stat.state !== 'Z';
}

/** Direct children of `pid`, from `/proc` on Linux and `pgrep -P` elsewhere. Never throws. */
export function listChildPids(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return pgrepChildren(pid); // no procfs (macOS)
  }
  const children: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat !== null && stat.ppid === pid) children.push(stat.pid);
  }
  return children;
}

/** Sends `signal` to `pid`, ignoring "no such process". Returns whether the signal was delivered. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false; // already gone (ESRCH): the caller wanted it dead anyway
  }
}

/**
 * Kills `pid` and its direct children with SIGKILL, synchronously. The parent is frozen with
 * SIGSTOP first so that it cannot fork new children between listing and killing. Used for simulated
 * crashes and in exit hooks, where nothing asynchronous may run. Returns every pid it signalled.
 */
export function killTreeSync(pid: number): number[] {
  signalPid(pid, 'SIGSTOP');
  const children = listChildPids(pid);
  for (const child of children) signalPid(child, 'SIGKILL');
  signalPid(pid, 'SIGKILL');
  return [pid, ...children];
}

/** Resolves `true` once none of `pids` is alive, or `false` when `timeoutMs` passes first. */
export async function waitForPidsGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isProcessAlive)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

function readStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // exited between readdir and read, or no procfs
  }
}

function pgrepChildren(pid: number): number[] {
  try {
    const out = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
    return out.split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when there are no children
  }
}
