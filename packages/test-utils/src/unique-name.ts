import { randomBytes } from 'node:crypto';

let counter = 0;

/**
 * A name that is unique per call (a per-process counter plus the pid and 6 random hex digits) and
 * safe everywhere without quoting: lowercase `[a-z0-9_]`, starting with a letter, at most 63
 * characters (PostgreSQL's identifier limit, which also bounds replication slot names). The prefix
 * is lower-cased, other characters are replaced by `_`, and it is truncated to fit.
 */
export function uniqueName(prefix = 'wt'): string {
  counter += 1;
  const suffix = `_${process.pid.toString(36)}${counter.toString(36)}_${randomBytes(3).toString('hex')}`;
  let clean = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (!/^[a-z]/.test(clean)) clean = `n${clean}`;
  return `${clean.slice(0, 63 - suffix.length)}${suffix}`;
}
