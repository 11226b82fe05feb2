#!/usr/bin/env node
/**
 * Builds the inspector page (docs/inspector.md) into services/gateway/dist/inspector, where the
 * gateway serves it from: src/main.ts and the published supabase-js bundled by esbuild into one
 * minified script (their licence comments kept at its end), next to index.html and inspector.css.
 * Run by `pnpm build` after `tsc -b`; the output is never committed. Types are checked by
 * `pnpm typecheck` (tsconfig.json here), not by esbuild.
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const out = path.join(__dirname, '..', 'dist', 'inspector');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });

esbuild.buildSync({
  entryPoints: [path.join(__dirname, 'src', 'main.ts')],
  outfile: path.join(out, 'inspector.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  platform: 'browser',
  // Browsers of the last few years; supabase-js itself needs no more.
  target: ['chrome100', 'firefox100', 'safari15'],
  legalComments: 'eof',
  logLevel: 'warning',
});
for (const file of ['index.html', 'inspector.css']) {
  fs.copyFileSync(path.join(__dirname, file), path.join(out, file));
}

const sizes = fs
  .readdirSync(out)
  .map((file) => `${file} ${Math.round(fs.statSync(path.join(out, file)).size / 1024)} KiB`);
console.log(`inspector: ${path.relative(process.cwd(), out)} (${sizes.join(', ')})`);
