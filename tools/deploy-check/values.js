/** Reading Helm values as Helm does: YAML files merged over the chart's defaults. */
'use strict';

const fs = require('node:fs');
const YAML = require('yaml');
const { rel } = require('./report');

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

function readYaml(file) {
  const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
  if (doc.errors.length > 0) throw new Error(`${rel(file)}: ${doc.errors[0].message}`);
  return doc.toJS() ?? {};
}

/** Helm's merge of user values over chart defaults: maps merge, anything else replaces, null deletes. */
function coalesce(defaults, overrides) {
  const out = { ...defaults };
  for (const [key, value] of Object.entries(overrides)) {
    if (value === null) delete out[key];
    else if (isObject(value) && isObject(out[key])) out[key] = coalesce(out[key], value);
    else out[key] = value;
  }
  return out;
}

/** The first few schema errors, readable (the combinators' own errors left out). */
function schemaErrors(ajvErrors) {
  return ajvErrors
    .filter((e) => !['if', 'anyOf', 'oneOf'].includes(e.keyword))
    .slice(0, 3)
    .map((e) => `${e.instancePath || '(root)'} ${e.message}`)
    .join('; ');
}

module.exports = { isObject, readYaml, coalesce, schemaErrors };
