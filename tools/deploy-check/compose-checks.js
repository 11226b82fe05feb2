/**
 * What the Compose files must satisfy, checked on their parsed YAML (merge keys resolved): every
 * gateway gets the ingester's database settings (both files), and docker-compose.cluster.yml wires
 * walcast to its Redis Cluster (every node named in REDIS_CLUSTER_NODES, announcing its service
 * name, with the shared node configuration; the init service forms the cluster from every node and
 * the services wait for it to finish). Each function returns a list of problems (empty: fine).
 */
'use strict';

const GATEWAY_IMAGE = 'walcast/gateway';
const INGESTER_IMAGE = 'walcast/ingester';
const NODE_CONF = './deploy/compose/redis-cluster.conf';
const INIT = 'redis-cluster-init';

/** The services whose image starts with `prefix`, as [name, service] pairs. */
function servicesOf(compose, prefix) {
  return Object.entries(compose.services ?? {}).filter(([, svc]) =>
    String(svc.image ?? '').startsWith(prefix),
  );
}

/** Every gateway gets the ingester's DB_* settings and a ROW_AUTHORIZATION entry. */
function gatewayDatabaseProblems(compose) {
  const ingester = compose.services?.ingester?.environment ?? {};
  const gateways = servicesOf(compose, GATEWAY_IMAGE);
  if (gateways.length === 0) return ['no gateway service'];
  const problems = [];
  for (const [name, svc] of gateways) {
    const env = svc.environment ?? {};
    for (const key of ['DB_HOST', 'DB_PORT', 'DB_NAME', 'DB_USER', 'DB_PASSWORD']) {
      if (env[key] === undefined || env[key] !== ingester[key])
        problems.push(`${name}: ${key} is not the ingester's`);
    }
    if (!('ROW_AUTHORIZATION' in env)) problems.push(`${name}: no ROW_AUTHORIZATION`);
  }
  return problems;
}

/** docker-compose.cluster.yml: the Redis Cluster's nodes, its init service and the services' settings. */
function clusterProblems(compose) {
  const problems = [];
  const services = compose.services ?? {};
  const nodes = Object.entries(services).filter(
    ([name, svc]) => name !== INIT && String(svc.image ?? '').startsWith('redis'),
  );
  if (nodes.length < 3) problems.push(`${nodes.length} Redis nodes; a cluster of three masters needs three`);
  for (const [name, svc] of nodes) {
    const command = (svc.command ?? []).map(String);
    const at = command.indexOf('--cluster-announce-hostname');
    if (at < 0 || command[at + 1] !== name) problems.push(`${name}: does not announce its service name`);
    if (!command.includes('/usr/local/etc/redis/redis.conf'))
      problems.push(`${name}: is not started with the node configuration`);
    if (
      !(svc.volumes ?? []).some((v) => String(v).startsWith(`${NODE_CONF}:/usr/local/etc/redis/redis.conf`))
    )
      problems.push(`${name}: does not mount ${NODE_CONF}`);
    if (!(svc.volumes ?? []).some((v) => String(v).endsWith(':/data')))
      problems.push(`${name}: no volume for /data (nodes.conf and the AOF)`);
  }
  const init = services[INIT];
  if (!init) {
    problems.push(`no ${INIT} service`);
  } else {
    const script = [].concat(init.command ?? []).join('\n');
    if (!script.includes('--cluster create'))
      problems.push(`${INIT}: does not run redis-cli --cluster create`);
    for (const [name] of nodes) {
      if (!new RegExp(`\\b${name}\\b`).test(script))
        problems.push(`${INIT}: does not form the cluster with ${name}`);
      if (init.depends_on?.[name]?.condition !== 'service_healthy')
        problems.push(`${INIT}: does not wait for ${name} to be healthy`);
    }
  }
  const expected = nodes.map(([name]) => `${name}:6379`).join(',');
  const walcast = [...servicesOf(compose, INGESTER_IMAGE), ...servicesOf(compose, GATEWAY_IMAGE)];
  if (walcast.length === 0) problems.push('no ingester or gateway service');
  for (const [name, svc] of walcast) {
    const env = svc.environment ?? {};
    if (env.REDIS_CLUSTER_NODES !== expected)
      problems.push(
        `${name}: REDIS_CLUSTER_NODES is ${JSON.stringify(env.REDIS_CLUSTER_NODES)}, not ${expected}`,
      );
    if ('REDIS_URL' in env) problems.push(`${name}: REDIS_URL is set (it would be ignored)`);
    if (svc.depends_on?.[INIT]?.condition !== 'service_completed_successfully')
      problems.push(`${name}: does not wait for ${INIT} to complete`);
  }
  for (const [name, svc] of Object.entries(services)) {
    if (nodes.some(([node]) => node === name) && (svc.ports ?? []).length > 0)
      problems.push(`${name}: publishes a port (the nodes announce names only the compose network resolves)`);
  }
  return problems;
}

module.exports = { gatewayDatabaseProblems, clusterProblems };
