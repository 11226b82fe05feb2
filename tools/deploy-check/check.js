#!/usr/bin/env node
/**
 * Offline checks of walcast's deployment files. Run from anywhere (paths are relative to the
 * repository root): `node tools/deploy-check/check.js`.
 *
 * 1. Helm values: values.yaml and every examples/*.yaml (merged over values.yaml, as Helm does)
 *    validate against values.schema.json, and deliberately bad values are rejected.
 * 2. With `helm` on PATH: `helm lint --strict` and `helm template` for each values file (CI puts a
 *    checksum-verified helm there, tools/deploy-check/fetch-helm.sh, and fails without it); every rendered
 *    manifest is validated with kubernetes-models and checked for the chart's security promises
 *    and for the gateways' database settings (row authorization); without helm, the template text
 *    is checked for those settings.
 * 3. docker-compose.yml: every gateway gets the ingester's database settings; with
 *    `docker-compose` on PATH, `docker-compose -f docker-compose.yml config -q`.
 * 4. Both Dockerfiles through dockerfilelint; any finding fails.
 *
 * Prints one line per check and exits 1 when any check failed. Imports only its pinned
 * devDependencies and Node built-ins.
 */
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const Ajv = require('ajv');
const addFormats = require('ajv-formats');
const YAML = require('yaml');
const dockerfilelint = require('dockerfilelint');

const ROOT = path.resolve(__dirname, '..', '..');
const CHART = path.join(ROOT, 'deploy', 'helm', 'walcast');
const DOCKERFILES = ['services/ingester/Dockerfile', 'services/gateway/Dockerfile'];

const counts = { ok: 0, fail: 0, skip: 0 };

function report(status, name, detail) {
  counts[status] += 1;
  const label = { ok: 'ok  ', fail: 'FAIL', skip: 'skip' }[status];
  console.log(`${label} ${name}${detail ? `: ${detail}` : ''}`);
}

/** Runs one check; an exception is a failure with its message. */
function check(name, fn) {
  try {
    const detail = fn();
    report('ok', name, detail);
  } catch (err) {
    report('fail', name, err instanceof Error ? err.message : String(err));
  }
}

const rel = (file) => path.relative(ROOT, file);

function readYaml(file) {
  const doc = YAML.parseDocument(fs.readFileSync(file, 'utf8'));
  if (doc.errors.length > 0) throw new Error(`${rel(file)}: ${doc.errors[0].message}`);
  return doc.toJS() ?? {};
}

function onPath(command) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, command), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function run(command, args) {
  const res = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (res.error) throw res.error;
  if (res.status !== 0) {
    const out = `${res.stderr}\n${res.stdout}`.trim().split('\n').slice(-5).join(' | ');
    throw new Error(`${command} ${args[0]} exited with ${res.status}: ${out}`);
  }
  return res.stdout;
}

const isObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

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

function schemaErrors(ajvErrors) {
  return ajvErrors
    .filter((e) => !['if', 'anyOf', 'oneOf'].includes(e.keyword))
    .slice(0, 3)
    .map((e) => `${e.instancePath || '(root)'} ${e.message}`)
    .join('; ');
}

// --- 1. values against the schema -----------------------------------------------------------

const valuesFile = path.join(CHART, 'values.yaml');
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
for (const file of schemaReady ? [valuesFile, ...exampleFiles] : []) {
  check(`values schema: ${rel(file)}`, () => {
    const values = file === valuesFile ? defaults : coalesce(defaults, readYaml(file));
    if (!validate(values)) throw new Error(schemaErrors(validate.errors));
  });
}

/** Each must be rejected by the schema (merged over values.yaml). */
const BAD_VALUES = [
  ['replicas is a string', { ingester: { replicas: 'two' } }],
  ['unknown top-level key', { gateways: { replicas: 2 } }],
  ['misspelt nested key', { gateway: { secureChanels: true } }],
  ['log level outside the enum', { gateway: { logLevel: 'verbose' } }],
  ['port out of range', { gateway: { port: 70000 } }],
  ['duration with an unknown unit', { gateway: { shutdownGrace: '10 seconds' } }],
  ['size with an unknown unit', { ingester: { maxInFlightBytes: '64 megs' } }],
  ['slot name with upper-case letters', { database: { slotName: 'Walcast' } }],
  ['no REDIS_URL and no existing Secret', { secrets: { redisUrl: '' } }],
  ['no DB_HOST and no DATABASE_URL', { database: { host: '' } }],
  ['secure channels without a JWT secret or JWKS', { gateway: { secureChannels: true } }],
  ['existing Secret plus an inline password', { secrets: { existingSecret: 'creds', dbPassword: 'pw' } }],
  ['CPU autoscaling without a CPU request', { gateway: { resources: { requests: { cpu: null } } } }],
  [
    'PDB minAvailable neither a number nor a percentage',
    { gateway: { podDisruptionBudget: { minAvailable: 'half' } } },
  ],
  ['metrics port out of range', { gateway: { metricsPort: 70000 } }],
  ['metrics port not a number', { ingester: { metricsPort: 'nine-one-oh-one' } }],
  ['listen host with a port', { gateway: { host: '0.0.0.0:4000' } }],
  ['empty gateway host', { gateway: { host: '' } }],
  ['listen host in brackets', { ingester: { healthHost: '[::]' } }],
  ['metrics host without a metrics port', { ingester: { metricsHost: '127.0.0.1' } }],
  ['row authorization mode outside the enum', { gateway: { rowAuthorization: { mode: 'on' } } }],
  ['row authorization pool size 0', { gateway: { rowAuthorization: { poolSize: 0 } } }],
  ['row authorization pool size above 100', { gateway: { rowAuthorization: { poolSize: 500 } } }],
  ['row authorization pool size a string', { gateway: { rowAuthorization: { poolSize: '4' } } }],
  [
    'row authorization check timeout without a unit we know',
    { gateway: { rowAuthorization: { checkTimeout: '5 s' } } },
  ],
  ['misspelt row authorization key', { gateway: { rowAuthorization: { refreshIntervall: '2s' } } }],
  ['row authorization postgres with open channels', { gateway: { rowAuthorization: { mode: 'postgres' } } }],
  ['RLS_DATABASE_URL not a PostgreSQL URL', { secrets: { rlsDatabaseUrl: 'mysql://replica/app' } }],
  [
    'existing Secret plus an inline RLS_DATABASE_URL',
    { secrets: { existingSecret: 'creds', rlsDatabaseUrl: 'postgres://r/app' } },
  ],
  [
    'gateway database user ignored behind a DATABASE_URL',
    {
      secrets: { databaseUrl: 'postgres://u:p@db/app' },
      gateway: { rowAuthorization: { databaseUser: 'walcast_rls' } },
    },
  ],
];
for (const [name, patch] of schemaReady ? BAD_VALUES : []) {
  check(`values schema rejects: ${name}`, () => {
    if (validate(coalesce(defaults, patch))) throw new Error('accepted');
    return schemaErrors(validate.errors);
  });
}

// --- 2. helm lint / template + manifest validation --------------------------------------------

/** The kubernetes-models class for apiVersion/kind, or null when the package has none (CRDs). */
function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const id = `kubernetes-models/${group ? `${group}/` : ''}${version}/${kind}`;
  try {
    return require(id)[kind] ?? null;
  } catch (err) {
    const missing = ['MODULE_NOT_FOUND', 'ERR_PACKAGE_PATH_NOT_EXPORTED'].includes(err && err.code);
    if (missing && String(err.message).includes(`${version}/${kind}`)) return null;
    throw err;
  }
}

/** What the chart promises for every workload, beyond what the API schema checks. */
function policyProblems(manifest) {
  if (manifest.kind !== 'Deployment') return [];
  const problems = [];
  const pod = manifest.spec.template.spec;
  if (pod.securityContext?.runAsNonRoot !== true) problems.push('pod runAsNonRoot is not true');
  for (const c of pod.containers) {
    const sc = c.securityContext ?? {};
    const ports = new Set((c.ports ?? []).map((p) => p.name));
    const probePorts = [c.livenessProbe, c.readinessProbe].map((p) => p?.httpGet?.port);
    const broken = [
      [
        probePorts.some((p) => typeof p === 'string' && !ports.has(p)),
        'a probe names a port the container lacks',
      ],
      [sc.readOnlyRootFilesystem !== true, 'readOnlyRootFilesystem is not true'],
      [sc.allowPrivilegeEscalation !== false, 'allowPrivilegeEscalation is not false'],
      [!(sc.capabilities?.drop ?? []).includes('ALL'), 'capabilities do not drop ALL'],
      [!c.livenessProbe?.httpGet || !c.readinessProbe?.httpGet, 'missing an HTTP probe'],
      [!c.resources?.requests, 'no resource requests'],
    ];
    for (const [bad, what] of broken) if (bad) problems.push(`${manifest.metadata.name}/${c.name}: ${what}`);
  }
  return problems;
}

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([key, value]) => (labels ?? {})[key] === value);

/**
 * Ports across manifests: each ServiceMonitor endpoint names a port of a Service it selects, and a
 * port named `metrics` is only on headless Services (never the public gateway Service).
 */
function portProblems(manifests) {
  const problems = [];
  const services = manifests.filter((m) => m.kind === 'Service');
  for (const svc of services) {
    const hasMetrics = (svc.spec.ports ?? []).some((p) => p.name === 'metrics');
    if (hasMetrics && svc.spec.clusterIP !== 'None') {
      problems.push(`Service/${svc.metadata.name}: the metrics port is on a non-headless Service`);
    }
  }
  for (const monitor of manifests.filter((m) => m.kind === 'ServiceMonitor')) {
    const selected = services.filter((svc) =>
      matches(monitor.spec.selector?.matchLabels, svc.metadata.labels),
    );
    for (const endpoint of monitor.spec.endpoints ?? []) {
      if (!selected.some((svc) => (svc.spec.ports ?? []).some((p) => p.name === endpoint.port))) {
        problems.push(
          `ServiceMonitor/${monitor.metadata.name}: no selected Service has port ${endpoint.port}`,
        );
      }
    }
  }
  return problems;
}

/** What the gateways need for row authorization (ROW_AUTHORIZATION=postgres, the default on secure channels). */
const GATEWAY_DB_CONFIG = [
  'DB_PORT',
  'DB_NAME',
  'DB_USER',
  'RLS_POOL_SIZE',
  'RLS_CHECK_TIMEOUT',
  'RLS_REFRESH_INTERVAL',
];
const GATEWAY_DB_SECRETS = ['DATABASE_URL', 'DB_PASSWORD', 'RLS_DATABASE_URL'];

/**
 * The gateway ConfigMap carries the database settings (DB_HOST whenever the ingester's has it),
 * and the gateway container reads the database credentials, optional, from the Secret REDIS_URL
 * comes from.
 */
function gatewayDatabaseProblems(manifests) {
  const problems = [];
  const ofComponent = (kind, component) =>
    manifests.find(
      (m) => m.kind === kind && m.metadata?.labels?.['app.kubernetes.io/component'] === component,
    );
  const gatewayConfig = ofComponent('ConfigMap', 'gateway')?.data ?? {};
  const ingesterConfig = ofComponent('ConfigMap', 'ingester')?.data ?? {};
  const wanted = [...GATEWAY_DB_CONFIG, ...('DB_HOST' in ingesterConfig ? ['DB_HOST'] : [])];
  for (const name of wanted) {
    if (!gatewayConfig[name]) problems.push(`gateway ConfigMap: no ${name}`);
  }
  for (const name of ['DB_HOST', 'DB_PORT', 'DB_NAME']) {
    if (gatewayConfig[name] !== ingesterConfig[name]) {
      problems.push(`gateway ConfigMap: ${name} differs from the ingester's (same database expected)`);
    }
  }
  const container = ofComponent('Deployment', 'gateway')?.spec.template.spec.containers[0];
  const env = new Map((container?.env ?? []).map((e) => [e.name, e.valueFrom?.secretKeyRef]));
  const secretName = env.get('REDIS_URL')?.name;
  for (const name of GATEWAY_DB_SECRETS) {
    const ref = env.get(name);
    if (!ref) problems.push(`gateway Deployment: ${name} is not read from a Secret`);
    else if (ref.name !== secretName || ref.optional !== true) {
      problems.push(`gateway Deployment: ${name} is not an optional key of the Secret ${secretName}`);
    }
  }
  return problems;
}

function validateManifests(yamlText) {
  const kinds = [];
  const manifests = [];
  const unvalidated = new Set();
  for (const doc of YAML.parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML: ${doc.errors[0].message}`);
    const manifest = doc.toJS();
    if (manifest === null || manifest === undefined) continue;
    const { apiVersion, kind } = manifest;
    const name = `${kind}/${manifest.metadata?.name}`;
    if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
      throw new Error(`${name}: no apiVersion/kind`);
    }
    const Model = modelFor(apiVersion, kind);
    if (Model) {
      try {
        new Model(manifest).validate();
      } catch (err) {
        throw new Error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    } else {
      unvalidated.add(kind);
    }
    const problems = policyProblems(manifest);
    if (problems.length > 0) throw new Error(problems.join('; '));
    kinds.push(kind);
    manifests.push(manifest);
  }
  if (kinds.length === 0) throw new Error('nothing rendered');
  const crossProblems = [...portProblems(manifests), ...gatewayDatabaseProblems(manifests)];
  if (crossProblems.length > 0) throw new Error(crossProblems.join('; '));
  const note = unvalidated.size > 0 ? ` (${[...unvalidated].join(', ')}: no model, not validated)` : '';
  return `${kinds.length} manifests valid${note}`;
}

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

if (onPath('helm')) {
  for (const file of [valuesFile, ...exampleFiles]) {
    const valuesArgs = file === valuesFile ? [] : ['-f', file];
    check(`helm lint --strict: ${rel(file)}`, () => {
      run('helm', ['lint', '--strict', CHART, ...valuesArgs]);
    });
    check(`helm template + kubernetes-models: ${rel(file)}`, () =>
      validateManifests(run('helm', ['template', 'walcast', CHART, '--namespace', 'walcast', ...valuesArgs])),
    );
  }
} else if (process.env.CI) {
  // CI puts helm on PATH (tools/deploy-check/fetch-helm.sh): there, its absence is a failure.
  report('fail', 'helm lint / helm template', 'helm is not on PATH');
} else {
  report('skip', 'helm lint / helm template', 'helm is not on PATH (values were still schema-checked)');
}

// --- 3. docker-compose.yml --------------------------------------------------------------------

/** Every gateway service gets the ingester's database settings (row authorization). */
check('docker-compose.yml: the gateways get the database settings', () => {
  const compose = YAML.parse(fs.readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
  const services = Object.entries(compose.services ?? {});
  const ingester = compose.services?.ingester?.environment ?? {};
  const gateways = services.filter(([, svc]) => String(svc.image ?? '').startsWith('walcast/gateway'));
  if (gateways.length === 0) throw new Error('no gateway service');
  const problems = [];
  for (const [name, svc] of gateways) {
    const env = svc.environment ?? {};
    for (const key of ['DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USER', 'DB_PASSWORD']) {
      if (env[key] === undefined || env[key] !== ingester[key])
        problems.push(`${name}: ${key} is not the ingester's`);
    }
    if (!('ROW_AUTHORIZATION' in env)) problems.push(`${name}: no ROW_AUTHORIZATION`);
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  return `${gateways.length} gateways`;
});

if (onPath('docker-compose')) {
  check('docker-compose config -q: docker-compose.yml', () => {
    run('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q']);
  });
} else {
  report('skip', 'docker-compose config -q', 'docker-compose is not on PATH');
}

// --- 4. Dockerfiles ---------------------------------------------------------------------------

for (const dockerfile of DOCKERFILES) {
  check(`dockerfilelint: ${dockerfile}`, () => {
    const file = path.join(ROOT, dockerfile);
    const items = dockerfilelint.run(path.dirname(file), fs.readFileSync(file, 'utf8'));
    if (items.length > 0) {
      throw new Error(items.map((i) => `line ${i.line}: ${i.title} (${i.rule})`).join('; '));
    }
  });
}

console.log(`deploy-check: ${counts.ok} passed, ${counts.fail} failed, ${counts.skip} skipped`);
process.exitCode = counts.fail > 0 ? 1 : 0;
