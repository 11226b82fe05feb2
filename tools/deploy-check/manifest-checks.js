/**
 * What every render of the chart must satisfy, beyond the Kubernetes API schema: each manifest is
 * validated with kubernetes-models by apiVersion/kind, then the set is checked for the chart's
 * promises. Each check returns a list of problems (empty: fine).
 *
 * - Workloads: non-root, read-only root filesystem, no privilege escalation, all capabilities
 *   dropped, no API token; CPU and memory requests and a memory limit; HTTP probes on the port the
 *   service listens on for them (gateway PORT, ingester HEALTH_PORT), never on the metrics port.
 * - The ingester: one streams at a time by leader election (chart README), so its Deployment rolls
 *   with `maxUnavailable: 0` (a standby is ready before the leader stops) or is `Recreate`; it is
 *   never autoscaled; it has a PDB exactly when it has more than one replica.
 * - The gateways: an HPA on their Deployment exactly when autoscaling is on (the Deployment then
 *   sets no replica count), a PDB when enabled; PDBs select pods of their component, never forbid
 *   every eviction, and leave room for one when counting `minAvailable`.
 * - Services and Ingress route to named ports that exist; a port named `metrics` only on headless
 *   Services; each ServiceMonitor endpoint names a port of a Service it selects.
 * - The gateways' database settings for row authorization (ConfigMap and optional Secret keys).
 */
'use strict';

const YAML = require('yaml');

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

const component = (m) => m.metadata?.labels?.['app.kubernetes.io/component'];
const find = (manifests, kind, of) => manifests.find((m) => m.kind === kind && component(m) === of);
const all = (manifests, kind) => manifests.filter((m) => m.kind === kind);
const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([key, value]) => (labels ?? {})[key] === value);

/** The port each component's probes must use, from its ConfigMap. */
const PROBE_PORT_SETTING = { gateway: 'PORT', ingester: 'HEALTH_PORT' };

function containerProblems(d, c, config) {
  const name = `Deployment/${d.metadata.name}/${c.name}`;
  const sc = c.securityContext ?? {};
  const pod = d.spec.template.spec;
  const problems = [];
  const bad = (condition, what) => condition && problems.push(`${name}: ${what}`);
  bad(sc.readOnlyRootFilesystem !== true, 'readOnlyRootFilesystem is not true');
  bad(sc.allowPrivilegeEscalation !== false, 'allowPrivilegeEscalation is not false');
  bad(sc.privileged === true, 'privileged');
  bad(!(sc.capabilities?.drop ?? []).includes('ALL'), 'capabilities do not drop ALL');
  bad((sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot) !== true, 'may run as root');
  bad((sc.runAsUser ?? pod.securityContext?.runAsUser) === 0, 'runs as uid 0');
  bad(!c.resources?.requests?.cpu || !c.resources?.requests?.memory, 'no CPU and memory requests');
  bad(!c.resources?.limits?.memory, 'no memory limit');
  bad(
    !(c.volumeMounts ?? []).some((v) => v.mountPath === '/tmp'),
    'no writable /tmp (the root is read-only)',
  );
  const ports = new Map((c.ports ?? []).map((p) => [p.name, p.containerPort]));
  const wanted = Number(config[PROBE_PORT_SETTING[component(d)]]);
  for (const [kind, probe, path] of [
    ['liveness', c.livenessProbe, /^\/healthz$/],
    ['readiness', c.readinessProbe, /^\/(readyz|healthz)$/],
  ]) {
    const get = probe?.httpGet;
    if (!get) {
      problems.push(`${name}: no HTTP ${kind} probe`);
      continue;
    }
    const port = typeof get.port === 'string' ? ports.get(get.port) : get.port;
    bad(port === undefined, `the ${kind} probe names port ${get.port}, which the container lacks`);
    bad(
      port !== undefined && port !== wanted,
      `the ${kind} probe is on port ${port}, not ${wanted} (${PROBE_PORT_SETTING[component(d)]})`,
    );
    bad(
      get.port === 'metrics' || (config.METRICS_PORT && port === Number(config.METRICS_PORT)),
      `the ${kind} probe is on the metrics port`,
    );
    bad(!path.test(get.path), `the ${kind} probe path is ${get.path}`);
  }
  return problems;
}

/** Security context, resources and probes of every Deployment. */
function workloadProblems(manifests) {
  const problems = [];
  for (const d of all(manifests, 'Deployment')) {
    const pod = d.spec.template.spec;
    const config = find(manifests, 'ConfigMap', component(d))?.data ?? {};
    if (pod.securityContext?.runAsNonRoot !== true)
      problems.push(`Deployment/${d.metadata.name}: pod runAsNonRoot is not true`);
    if (pod.automountServiceAccountToken !== false)
      problems.push(`Deployment/${d.metadata.name}: mounts an API token`);
    for (const c of pod.containers) problems.push(...containerProblems(d, c, config));
  }
  return problems;
}

/** How many pods a Deployment runs at least: its replicas, or its HPA's minimum. */
function minimumPods(manifests, d) {
  const hpa = all(manifests, 'HorizontalPodAutoscaler').find(
    (h) => h.spec.scaleTargetRef.name === d.metadata.name,
  );
  return hpa ? hpa.spec.minReplicas : (d.spec.replicas ?? 1);
}

/** The ingester's rollout and replicas; HPAs; PDBs, as described at the top. */
function scalingProblems(manifests, values) {
  const problems = [];
  const ingester = find(manifests, 'Deployment', 'ingester');
  const gateway = find(manifests, 'Deployment', 'gateway');
  if (!ingester || !gateway) return ['no ingester or no gateway Deployment'];
  const { type, rollingUpdate } = ingester.spec.strategy ?? {};
  const leaderSafe =
    type === 'Recreate' || (type === 'RollingUpdate' && [0, '0%'].includes(rollingUpdate?.maxUnavailable));
  if (!leaderSafe) problems.push(`ingester strategy ${type} may stop the leader before a standby is ready`);
  if (ingester.spec.replicas !== values.ingester.replicas)
    problems.push(`ingester replicas ${ingester.spec.replicas}, values say ${values.ingester.replicas}`);

  const hpas = all(manifests, 'HorizontalPodAutoscaler');
  if (hpas.some((h) => h.spec.scaleTargetRef.name === ingester.metadata.name))
    problems.push('an HPA scales the ingester');
  const gatewayHpa = hpas.find(
    (h) =>
      h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === gateway.metadata.name,
  );
  if (values.gateway.autoscaling.enabled) {
    if (!gatewayHpa) problems.push('autoscaling is on but no HPA targets the gateway Deployment');
    else if (gatewayHpa.spec.minReplicas > gatewayHpa.spec.maxReplicas)
      problems.push('HPA minReplicas above maxReplicas');
    if (gateway.spec.replicas !== undefined)
      problems.push('the gateway Deployment sets replicas although an HPA scales it');
  } else {
    if (gatewayHpa) problems.push('autoscaling is off but an HPA targets the gateway Deployment');
    if (gateway.spec.replicas !== values.gateway.replicas)
      problems.push(`gateway replicas ${gateway.spec.replicas}, values say ${values.gateway.replicas}`);
  }

  const pdbs = all(manifests, 'PodDisruptionBudget');
  const wantIngesterPdb = values.ingester.podDisruptionBudget.enabled && values.ingester.replicas > 1;
  if (Boolean(find(manifests, 'PodDisruptionBudget', 'ingester')) !== wantIngesterPdb)
    problems.push(
      `ingester PDB ${wantIngesterPdb ? 'missing' : 'present'} (replicas ${values.ingester.replicas})`,
    );
  if (
    Boolean(find(manifests, 'PodDisruptionBudget', 'gateway')) !== values.gateway.podDisruptionBudget.enabled
  )
    problems.push('gateway PDB does not follow gateway.podDisruptionBudget.enabled');
  for (const pdb of pdbs) {
    const name = `PodDisruptionBudget/${pdb.metadata.name}`;
    const target = all(manifests, 'Deployment').find((d) =>
      matches(pdb.spec.selector?.matchLabels, d.spec.template.metadata.labels),
    );
    if (!target) {
      problems.push(`${name} selects no Deployment's pods`);
      continue;
    }
    if (component(target) !== component(pdb)) problems.push(`${name} selects the ${component(target)} pods`);
    const { maxUnavailable, minAvailable } = pdb.spec;
    if (maxUnavailable !== undefined && [0, '0%'].includes(maxUnavailable))
      problems.push(`${name}: maxUnavailable 0 blocks every eviction`);
    if (typeof minAvailable === 'number' && minAvailable >= minimumPods(manifests, target))
      problems.push(`${name}: minAvailable ${minAvailable} leaves no pod evictable`);
    if (minAvailable === '100%') problems.push(`${name}: minAvailable 100% blocks every eviction`);
  }
  return problems;
}

/** Services, Ingress and ServiceMonitors, as described at the top. */
function routingProblems(manifests) {
  const problems = [];
  const services = all(manifests, 'Service');
  const deployments = all(manifests, 'Deployment');
  for (const svc of services) {
    const name = `Service/${svc.metadata.name}`;
    if ((svc.spec.ports ?? []).some((p) => p.name === 'metrics') && svc.spec.clusterIP !== 'None')
      problems.push(`${name}: the metrics port is on a non-headless Service`);
    const pods = deployments.filter((d) => matches(svc.spec.selector, d.spec.template.metadata.labels));
    if (pods.length === 0) problems.push(`${name} selects no pods`);
    for (const port of svc.spec.ports ?? []) {
      const named = pods.some((d) =>
        d.spec.template.spec.containers.some((c) =>
          (c.ports ?? []).some((p) => p.name === port.targetPort || p.containerPort === port.targetPort),
        ),
      );
      if (!named) problems.push(`${name}: targetPort ${port.targetPort} is no container port`);
    }
  }
  for (const ingress of all(manifests, 'Ingress')) {
    for (const rule of ingress.spec.rules ?? []) {
      for (const path of rule.http?.paths ?? []) {
        const backend = path.backend.service;
        const svc = services.find((s) => s.metadata.name === backend.name);
        if (!svc)
          problems.push(
            `Ingress/${ingress.metadata.name}: ${rule.host}${path.path} goes to no Service (${backend.name})`,
          );
        else if (component(svc) !== 'gateway' || svc.spec.clusterIP === 'None')
          problems.push(
            `Ingress/${ingress.metadata.name}: routes to ${svc.metadata.name}, not the gateway Service`,
          );
        else if (
          !(svc.spec.ports ?? []).some((p) => p.name === backend.port.name || p.port === backend.port.number)
        )
          problems.push(
            `Ingress/${ingress.metadata.name}: no port ${backend.port.name ?? backend.port.number} on ${svc.metadata.name}`,
          );
      }
    }
  }
  for (const monitor of all(manifests, 'ServiceMonitor')) {
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
  const gatewayConfig = find(manifests, 'ConfigMap', 'gateway')?.data ?? {};
  const ingesterConfig = find(manifests, 'ConfigMap', 'ingester')?.data ?? {};
  const wanted = [...GATEWAY_DB_CONFIG, ...('DB_HOST' in ingesterConfig ? ['DB_HOST'] : [])];
  for (const name of wanted) {
    if (!gatewayConfig[name]) problems.push(`gateway ConfigMap: no ${name}`);
  }
  for (const name of ['DB_HOST', 'DB_PORT', 'DB_NAME']) {
    if (gatewayConfig[name] !== ingesterConfig[name]) {
      problems.push(`gateway ConfigMap: ${name} differs from the ingester's (same database expected)`);
    }
  }
  const env = containerEnv(manifests, 'gateway');
  const secretName = env.get('REDIS_URL')?.valueFrom?.secretKeyRef?.name;
  for (const name of GATEWAY_DB_SECRETS) {
    const ref = env.get(name)?.valueFrom?.secretKeyRef;
    if (!ref) problems.push(`gateway Deployment: ${name} is not read from a Secret`);
    else if (ref.name !== secretName || ref.optional !== true) {
      problems.push(`gateway Deployment: ${name} is not an optional key of the Secret ${secretName}`);
    }
  }
  return problems;
}

/** A component's container env, by name. */
function containerEnv(manifests, of) {
  const container = find(manifests, 'Deployment', of)?.spec.template.spec.containers[0];
  return new Map((container?.env ?? []).map((e) => [e.name, e]));
}

/**
 * Parses and validates a render, then runs every check above; throws with the problems. Returns
 * the manifests and a one-line summary.
 */
function validateRender(yamlText, values) {
  const manifests = [];
  const unvalidated = new Set();
  for (const doc of YAML.parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML: ${doc.errors[0].message}`);
    const manifest = doc.toJS();
    if (manifest === null || manifest === undefined) continue;
    const { apiVersion, kind } = manifest;
    const name = `${kind}/${manifest.metadata?.name}`;
    if (typeof apiVersion !== 'string' || typeof kind !== 'string')
      throw new Error(`${name}: no apiVersion/kind`);
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
    manifests.push(manifest);
  }
  if (manifests.length === 0) throw new Error('nothing rendered');
  const problems = [
    ...workloadProblems(manifests),
    ...scalingProblems(manifests, values),
    ...routingProblems(manifests),
    ...gatewayDatabaseProblems(manifests),
  ];
  if (problems.length > 0) throw new Error(problems.join('; '));
  const note = unvalidated.size > 0 ? ` (${[...unvalidated].join(', ')}: no model, not validated)` : '';
  return { manifests, summary: `${manifests.length} manifests valid${note}` };
}

module.exports = {
  GATEWAY_DB_CONFIG,
  GATEWAY_DB_SECRETS,
  all,
  containerEnv,
  find,
  validateRender,
};
