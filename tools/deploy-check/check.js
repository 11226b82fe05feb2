#!/usr/bin/env node
/**
 * Offline checks of walcast's deployment files. Run from anywhere (paths are relative to the
 * repository root): `node tools/deploy-check/check.js`.
 *
 * 1. Helm values: values.yaml and every examples/*.yaml (merged over values.yaml, as Helm does)
 *    validate against values.schema.json, and the bad values of bad-values.js are rejected.
 * 2. With `helm` on PATH: `helm lint --strict` and `helm template` for each values file and for
 *    each override of render-matrix.js (over examples/minimal.yaml); every render is validated
 *    with kubernetes-models and checked by manifest-checks.js, each override also for what it
 *    sets; values the schema accepts but the templates must refuse fail to render. Without helm,
 *    the template text is checked for the gateways' database settings.
 * 3. docker-compose.yml and docker-compose.cluster.yml: every gateway gets the ingester's database
 *    settings; the cluster file's Redis nodes, init service and REDIS_CLUSTER_NODES fit together
 *    (compose-checks.js); with `docker-compose` on PATH, `docker-compose -f <file> config -q`.
 * 4. Both Dockerfiles through dockerfilelint; any finding fails.
 *
 * A missing tool (helm, docker-compose) is a skip, or a failure under CI (`CI` set): CI has them.
 * Prints one line per check and exits 1 when any check failed. Imports only its pinned
 * devDependencies and Node built-ins.
 */
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');
const YAML = require('yaml');
const dockerfilelint = require('dockerfilelint');
const { ROOT, counts, report, check, missingTool, rel, onPath, run } = require('./report');
const { coalesce, readYaml, schemaErrors } = require('./values');
const { SCHEMA_REJECTS, RENDER_REJECTS } = require('./bad-values');
const { GATEWAY_DB_CONFIG, GATEWAY_DB_SECRETS, validateRender } = require('./manifest-checks');
const { CASES } = require('./render-matrix');
const { clusterProblems, gatewayDatabaseProblems } = require('./compose-checks');

const CHART = path.join(ROOT, 'deploy', 'helm', 'walcast');
const DOCKERFILES = ['services/ingester/Dockerfile', 'services/gateway/Dockerfile'];

// --- 1. values against the schema -----------------------------------------------------------

const valuesFile = path.join(CHART, 'values.yaml');
const minimalFile = path.join(CHART, 'examples', 'minimal.yaml');
const exampleFiles = fs
  .readdirSync(path.join(CHART, 'examples'))
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => path.join(CHART, 'examples', f));

let validate = null;
check('values schema: compiles (ajv, strict)', () => {
  const ajv = new Ajv({ allErrors: true, strict: true });
  addFormats(ajv);
  validate = ajv.compile(JSON.parse(fs.readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')));
});

let defaults = null;
try {
  defaults = readYaml(valuesFile);
} catch (err) {
  report('fail', `values: ${rel(valuesFile)}`, err instanceof Error ? err.message : String(err));
}
const schemaReady = validate !== null && defaults !== null;
/** The values Helm would use for these files, in order over values.yaml. */
const merged = (...layers) => layers.reduce((acc, layer) => coalesce(acc, layer), defaults);

for (const file of schemaReady ? [valuesFile, ...exampleFiles] : []) {
  check(`values schema: ${rel(file)}`, () => {
    if (!validate(file === valuesFile ? defaults : merged(readYaml(file))))
      throw new Error(schemaErrors(validate.errors));
  });
}
for (const { name, values } of schemaReady ? CASES : []) {
  check(`values schema: minimal.yaml + ${name}`, () => {
    if (!validate(merged(readYaml(minimalFile), values))) throw new Error(schemaErrors(validate.errors));
  });
}
for (const [name, patch] of schemaReady ? SCHEMA_REJECTS : []) {
  check(`values schema rejects: ${name}`, () => {
    if (validate(merged(patch))) throw new Error('accepted');
    return schemaErrors(validate.errors);
  });
}
// What only the templates can refuse must get past the schema, or the render check proves nothing.
for (const [name, patch] of schemaReady ? RENDER_REJECTS : []) {
  check(`values schema accepts (the templates refuse it): ${name}`, () => {
    if (!validate(merged(readYaml(minimalFile), patch)))
      throw new Error(`rejected already: ${schemaErrors(validate.errors)}`);
  });
}

// --- 2. helm lint / template + manifest checks ------------------------------------------------

/**
 * Without helm, the templates' text: the gateway's ConfigMap document sets the database settings
 * and its Deployment reads the database credentials from the Secret.
 */
check('templates: the gateways get the database settings (template text)', () => {
  const template = (name) => fs.readFileSync(path.join(CHART, 'templates', name), 'utf8');
  const gatewayConfig = template('configmap.yaml')
    .split(/^---$/m)
    .find((doc) => doc.includes('walcast.gateway.fullname'));
  if (!gatewayConfig) throw new Error('configmap.yaml: no gateway ConfigMap');
  const missing = ['DB_HOST', ...GATEWAY_DB_CONFIG].filter((name) => !gatewayConfig.includes(`  ${name}: `));
  const deployment = template('gateway-deployment.yaml');
  missing.push(...GATEWAY_DB_SECRETS.filter((name) => !deployment.includes(`"name" "${name}"`)));
  if (missing.length > 0) throw new Error(`not set for the gateways: ${missing.join(', ')}`);
});

const template = (valueFiles) =>
  run('helm', [
    'template',
    'walcast',
    CHART,
    '--namespace',
    'walcast',
    ...valueFiles.flatMap((f) => ['-f', f]),
  ]);

if (!onPath('helm')) {
  missingTool(
    'helm lint / helm template',
    'helm is not on PATH (tools/deploy-check/fetch-helm.sh fetches it)',
  );
} else if (schemaReady) {
  for (const file of [valuesFile, ...exampleFiles]) {
    const files = file === valuesFile ? [] : [file];
    check(
      `helm lint --strict: ${rel(file)}`,
      () => void run('helm', ['lint', '--strict', CHART, ...files.flatMap((f) => ['-f', f])]),
    );
    check(
      `helm template + checks: ${rel(file)}`,
      () => validateRender(template(files), merged(...files.map(readYaml))).summary,
    );
  }
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'walcast-deploy-check-'));
  try {
    CASES.forEach(({ name, values, expect }, i) => {
      const file = path.join(scratch, `case-${i}.yaml`);
      fs.writeFileSync(file, YAML.stringify(values));
      check(
        `helm lint --strict: minimal.yaml + ${name}`,
        () => void run('helm', ['lint', '--strict', CHART, '-f', minimalFile, '-f', file]),
      );
      check(`helm template + checks: minimal.yaml + ${name}`, () => {
        const { manifests, summary } = validateRender(
          template([minimalFile, file]),
          merged(readYaml(minimalFile), values),
        );
        const problems = expect(manifests);
        if (problems.length > 0) throw new Error(problems.join('; '));
        return summary;
      });
    });
    RENDER_REJECTS.forEach(([name, values, message], i) => {
      const file = path.join(scratch, `refused-${i}.yaml`);
      fs.writeFileSync(file, YAML.stringify(values));
      check(`helm template refuses: ${name}`, () => {
        let output;
        try {
          output = template([minimalFile, file]);
        } catch (err) {
          if (message.test(err.message)) return err.message.replace(/^.*?Error: /, '');
          throw new Error(`failed, but not saying ${message}: ${err.message}`);
        }
        throw new Error(`rendered ${output.length} bytes`);
      });
    });
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

// --- 3. Compose files ------------------------------------------------------------------------

const COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.cluster.yml'];
const readCompose = (file) => YAML.parse(fs.readFileSync(path.join(ROOT, file), 'utf8'), { merge: true });

/** Every gateway service gets the ingester's database settings (row authorization). */
for (const file of COMPOSE_FILES) {
  check(`${file}: the gateways get the database settings`, () => {
    const problems = gatewayDatabaseProblems(readCompose(file));
    if (problems.length > 0) throw new Error(problems.join('; '));
  });
}

check(
  'docker-compose.cluster.yml: walcast on a Redis Cluster of three nodes formed by the init service',
  () => {
    const problems = clusterProblems(readCompose('docker-compose.cluster.yml'));
    if (problems.length > 0) throw new Error(problems.join('; '));
  },
);

if (onPath('docker-compose')) {
  for (const file of COMPOSE_FILES) {
    check(
      `docker-compose config -q: ${file}`,
      () => void run('docker-compose', ['-f', file, 'config', '-q']),
    );
  }
} else {
  missingTool(
    'docker-compose config -q',
    'docker-compose is not on PATH (apt-get install -y docker-compose)',
  );
}

// --- 4. Dockerfiles ---------------------------------------------------------------------------

for (const dockerfile of DOCKERFILES) {
  check(`dockerfilelint: ${dockerfile}`, () => {
    const file = path.join(ROOT, dockerfile);
    const items = dockerfilelint.run(path.dirname(file), fs.readFileSync(file, 'utf8'));
    if (items.length > 0)
      throw new Error(items.map((i) => `line ${i.line}: ${i.title} (${i.rule})`).join('; '));
  });
}

console.log(`deploy-check: ${counts.ok} passed, ${counts.fail} failed, ${counts.skip} skipped`);
process.exitCode = counts.fail > 0 ? 1 : 0;
