import { closeSync, openSync, readSync, statSync } from 'node:fs';

const TAIL_BYTES = 64 * 1024;

/** Size of `file` in bytes, or 0 when it does not exist yet. */
export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0; // not created yet: nothing has been logged
  }
}

/**
 * The text of `file` from byte `offset` (default: the last 64 KiB). Never throws; returns '' when the
 * file cannot be read, because logs are diagnostics and must not turn into a second failure.
 */
export function readLogFrom(file: string, offset?: number): string {
  let fd: number | undefined;
  try {
    const size = statSync(file).size;
    const start = Math.max(0, offset ?? size - TAIL_BYTES);
    const buf = Buffer.alloc(Math.max(0, size - start));
    fd = openSync(file, 'r');
    const read = readSync(fd, buf, 0, buf.length, start);
    return buf.subarray(0, read).toString('utf8');
  } catch {
    return ''; // missing or unreadable log: no diagnostics, but no crash either
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The last `n` non-empty lines of `text`. */
export function lastLines(text: string, n: number): string[] {
  if (n <= 0) return [];
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-n);
}
