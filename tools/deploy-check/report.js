/**
 * How deploy-check reports: one line per check (`ok`, `FAIL` with the reason, `skip` with why),
 * counted for the summary; and the few process helpers its checks share.
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const ROOT = path.resolve(__dirname, '..', '..');
const counts = { ok: 0, fail: 0, skip: 0 };

function report(status, name, detail) {
  counts[status] += 1;
  const label = { ok: 'ok  ', fail: 'FAIL', skip: 'skip' }[status];
  console.log(`${label} ${name}${detail ? `: ${detail}` : ''}`);
}

/** Runs one check; its return value is the detail, an exception a failure with its message. */
function check(name, fn) {
  try {
    report('ok', name, fn());
  } catch (err) {
    report('fail', name, err instanceof Error ? err.message : String(err));
  }
}

/**
 * A tool is missing: a skip, or under CI (`CI` set, as `.ci/run` does) a failure, since CI
 * installs every tool and a skipped step there would hide a check that never ran.
 */
function missingTool(name, why) {
  report(process.env.CI ? 'fail' : 'skip', name, `${why}${process.env.CI ? ' (CI must have it)' : ''}`);
}

const rel = (file) => path.relative(ROOT, file);

function onPath(command) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false; // not in this folder: the next is tried
    }
  });
}

/** Runs `command`; its stdout, or an error with the end of its output. */
function run(command, args) {
  const res = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.error) throw res.error;
  if (res.status !== 0) {
    const out = `${res.stderr}\n${res.stdout}`.trim().split('\n').slice(-5).join(' | ');
    throw new Error(`${command} ${args[0]} exited with ${res.status}: ${out}`);
  }
  return res.stdout;
}

module.exports = { ROOT, counts, report, check, missingTool, rel, onPath, run };
