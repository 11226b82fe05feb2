// Writes a generated page, or with `--check` fails when the committed page differs from what the
// code generates now (the CI drift check). Shared by config-docs.js and error-docs.js.
'use strict';
const { readFileSync, writeFileSync } = require('node:fs');
const { relative } = require('node:path');

/** Writes `text` to `file`, or checks it is already there; `command` regenerates it. */
function writeOrCheck(file, text, command) {
  const name = relative(`${__dirname}/..`, file);
  if (!process.argv.includes('--check')) {
    writeFileSync(file, text);
    process.stdout.write(`wrote ${name}\n`);
    return;
  }
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // Missing file: reported as drift below.
  }
  if (current !== text) {
    process.stderr.write(`${name} is out of date; run \`${command}\` and commit it\n`);
    process.exit(1);
  }
  process.stdout.write(`${name} is up to date\n`);
}

module.exports = { writeOrCheck };
