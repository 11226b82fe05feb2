// ESLint rule: no import cycles among the repository's TypeScript files, type-only imports
// included (eslint-plugin-import-x's no-cycle skips those, yet a type cycle still couples two
// modules both ways). Relative imports and `@walcast/<package>` (its src/index.ts) are followed;
// other packages are leaves. The graph is read once per lint run from the files on disk.
'use strict';
const { readFileSync, statSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');

const root = resolve(__dirname, '../..');

/** Module specifiers of one file's imports, re-exports, `import()` and `require()` calls. */
const SPECIFIERS = [
  /^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm,
  /^\s*import\s*['"]([^'"]+)['"]/gm,
  /\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g,
];

/** The repository file a specifier names, or null for a package outside the repository. */
function resolveSpecifier(specifier, fromFile) {
  let base;
  if (specifier.startsWith('.')) base = resolve(dirname(fromFile), specifier);
  else if (specifier.startsWith('@walcast/')) base = join(root, 'packages', specifier.slice(9), 'src/index');
  else return null;
  for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base, `${base}.js`]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not this candidate.
    }
  }
  return null;
}

const edges = new Map();

/** The repository files `file` imports, read from disk once. */
function importsOf(file) {
  let deps = edges.get(file);
  if (deps) return deps;
  deps = [];
  edges.set(file, deps);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return deps;
  }
  for (const pattern of SPECIFIERS) {
    for (const match of text.matchAll(pattern)) {
      const target = resolveSpecifier(match[1], file);
      if (target && !deps.includes(target)) deps.push(target);
    }
  }
  return deps;
}

/** A path of imports from `start` back to `goal` (breadth first: the shortest), or null. */
function pathBack(start, goal) {
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const file = queue.shift();
    for (const next of importsOf(file)) {
      if (previous.has(next)) continue;
      previous.set(next, file);
      if (next === goal) {
        const route = [];
        for (let f = file; f !== null; f = previous.get(f)) route.unshift(f);
        return route;
      }
      queue.push(next);
    }
  }
  return null;
}

module.exports = {
  meta: {
    type: 'problem',
    docs: { description: 'Forbid import cycles, type-only imports included.' },
    schema: [],
    messages: { cycle: 'Import cycle: {{route}}.' },
  },
  create(context) {
    const filename = context.physicalFilename;
    const check = (node) => {
      if (!node.source || typeof node.source.value !== 'string') return;
      const target = resolveSpecifier(node.source.value, filename);
      if (!target || target === filename) return;
      const route = pathBack(target, filename);
      if (!route) return;
      const names = [filename, ...route, filename].map((f) => f.slice(root.length + 1));
      context.report({ node, messageId: 'cycle', data: { route: names.join(' → ') } });
    };
    return {
      ImportDeclaration: check,
      ExportNamedDeclaration: check,
      ExportAllDeclaration: check,
      ImportExpression: check,
    };
  },
};
