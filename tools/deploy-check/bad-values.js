/**
 * Values the chart must refuse, each merged over values.yaml: first by values.schema.json, then
 * (what a JSON schema cannot compare) by the templates when rendering.
 */
'use strict';

/** [what is wrong, the values], each rejected by the schema. */
const SCHEMA_REJECTS = [
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
  [
    'secure channels with a JWKS of no keys',
    { gateway: { secureChannels: true, jwt: { jwks: { keys: [] } } } },
  ],
  ['a JWKS URL that is not http(s)', { gateway: { jwt: { jwksUrl: 'ftp://auth.example.com/jwks' } } }],
  ['existing Secret plus an inline password', { secrets: { existingSecret: 'creds', dbPassword: 'pw' } }],
  ['existing Secret plus an inline JWT secret', { secrets: { existingSecret: 'creds', jwtSecret: 's' } }],
  ['CPU autoscaling without a CPU request', { gateway: { resources: { requests: { cpu: null } } } }],
  ['autoscaling minReplicas 0', { gateway: { autoscaling: { minReplicas: 0 } } }],
  [
    'PDB minAvailable neither a number nor a percentage',
    { gateway: { podDisruptionBudget: { minAvailable: 'half' } } },
  ],
  [
    'gateway PDB maxUnavailable 0 (blocks every eviction)',
    { gateway: { podDisruptionBudget: { maxUnavailable: 0 } } },
  ],
  ['ingester PDB maxUnavailable 0%', { ingester: { podDisruptionBudget: { maxUnavailable: '0%' } } }],
  ['ingester replicas 0', { ingester: { replicas: 0 } }],
  ['resources with an unknown key', { gateway: { resources: { requests: { gpu: 1 } } } }],
  ['a memory request that is not a quantity', { ingester: { resources: { requests: { memory: 'lots' } } } }],
  ['container security context with an unknown key', { containerSecurityContext: { readOnlyRootFS: true } }],
  ['metrics port out of range', { gateway: { metricsPort: 70000 } }],
  ['metrics port not a number', { ingester: { metricsPort: 'nine-one-oh-one' } }],
  ['listen host with a port', { gateway: { host: '0.0.0.0:4000' } }],
  ['empty gateway host', { gateway: { host: '' } }],
  ['listen host in brackets', { ingester: { healthHost: '[::]' } }],
  ['metrics host without a metrics port', { ingester: { metricsHost: '127.0.0.1' } }],
  ['ServiceMonitor interval without a unit', { metrics: { serviceMonitor: { interval: '30' } } }],
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
  ['Redis Cluster nodes without ports', { redis: { clusterNodes: ['redis-0.redis', 'redis-1.redis'] } }],
  ['Redis Cluster nodes as one string', { redis: { clusterNodes: 'redis-0:6379,redis-1:6379' } }],
  ['Redis Cluster nodes as URLs', { redis: { clusterNodes: ['redis://redis-0:6379'] } }],
  ['the same Redis Cluster node twice', { redis: { clusterNodes: ['redis-0:6379', 'redis-0:6379'] } }],
  [
    'Redis Cluster nodes both in the ConfigMap and in the Secret',
    { redis: { clusterNodes: ['redis-0:6379'] }, secrets: { redisClusterNodes: 'redis://:pw@redis-0:6379' } },
  ],
  [
    'Redis Cluster nodes in the Secret without a scheme',
    { secrets: { redisClusterNodes: 'redis-0:6379,redis-1:6379' } },
  ],
  [
    'existing Secret plus inline Redis Cluster nodes',
    { secrets: { existingSecret: 'creds', redisClusterNodes: 'redis://:pw@redis-0:6379' } },
  ],
  ['inspector as a string', { gateway: { inspector: 'yes' } }],
  ['a history of no changes', { redis: { history: { enabled: '', maxLen: 0, ttl: '' } } }],
  ['a history TTL without a unit', { redis: { history: { enabled: '', maxLen: '', ttl: 3600 } } }],
  ['an enabled Ingress without hosts', { gateway: { ingress: { enabled: true } } }],
  ['an Ingress host with a scheme', ingress({ host: 'https://realtime.example.com' })],
  ['an Ingress host with a port', ingress({ host: 'realtime.example.com:443' })],
  ['an Ingress host without paths', ingress({ paths: [] })],
  ['an Ingress pathType in the wrong case', ingress({ paths: [{ path: '/', pathType: 'prefix' }] })],
  ['an Ingress path not starting with /', ingress({ paths: [{ path: 'realtime', pathType: 'Prefix' }] })],
  ['Ingress TLS without a secretName', ingress({}, [{ hosts: ['realtime.example.com'] }])],
  [
    'misspelt Ingress key',
    { gateway: { ingress: { enabled: false, hosts: [], tls: [], classname: 'nginx' } } },
  ],
];

/** An enabled Ingress with one host, `host` fields and `tls` overriding the valid ones. */
function ingress(host, tls = []) {
  const valid = { host: 'realtime.example.com', paths: [{ path: '/', pathType: 'Prefix' }] };
  return { gateway: { ingress: { enabled: true, hosts: [{ ...valid, ...host }], tls } } };
}

/** [what is wrong, the values, what the failed render must say]: accepted by the schema, refused by the templates. */
const RENDER_REJECTS = [
  [
    'gateway metrics port equal to its port',
    { gateway: { metricsPort: 4000 } },
    /gateway.metricsPort must differ/,
  ],
  [
    'ingester metrics port equal to its health port',
    { ingester: { metricsPort: 9100 } },
    /ingester.metricsPort must differ/,
  ],
  [
    'autoscaling minReplicas above maxReplicas',
    { gateway: { autoscaling: { minReplicas: 5, maxReplicas: 3 } } },
    /minReplicas must not be above/,
  ],
];

module.exports = { SCHEMA_REJECTS, RENDER_REJECTS };
