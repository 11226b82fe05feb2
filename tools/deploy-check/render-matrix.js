/**
 * Overrides rendered on top of examples/minimal.yaml, one Helm release each: the setups people run
 * (secure channels with a secret or a JWKS, an external Redis or a Redis Cluster (nodes in the
 * ConfigMap, or with credentials in the Secret), autoscaling off
 * and on, metrics on ports of their own with ServiceMonitors, an Ingress, one ingester). Each
 * render passes every check of manifest-checks.js, then its own expectations below, which return
 * problems (empty: fine).
 */
'use strict';

const { all, containerEnv, find } = require('./manifest-checks');

const config = (m, of) => find(m, 'ConfigMap', of)?.data ?? {};
const secret = (m) => all(m, 'Secret')[0]?.stringData ?? {};
const secretRef = (m, of, name) => containerEnv(m, of).get(name)?.valueFrom?.secretKeyRef ?? null;

/** `problems` for each failed [condition, what]. */
const expectAll = (pairs) => pairs.filter(([ok]) => !ok).map(([, what]) => what);

const JWKS = {
  keys: [
    {
      kty: 'RSA',
      kid: 'walcast-test',
      use: 'sig',
      alg: 'RS256',
      n: 'sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw',
      e: 'AQAB',
    },
  ],
};

const CASES = [
  {
    name: 'secure channels with a JWT secret',
    values: {
      gateway: { secureChannels: true },
      secrets: { jwtSecret: 'a-secret-of-at-least-32-characters-long' },
    },
    expect: (m) =>
      expectAll([
        [config(m, 'gateway').SECURE_CHANNELS === 'true', 'SECURE_CHANNELS is not "true"'],
        [
          !('ROW_AUTHORIZATION' in config(m, 'gateway')),
          'ROW_AUTHORIZATION set though mode is empty (the gateway defaults it to postgres)',
        ],
        [secret(m).JWT_SECRET === 'a-secret-of-at-least-32-characters-long', 'the Secret has no JWT_SECRET'],
        [
          secretRef(m, 'gateway', 'JWT_SECRET')?.key === 'JWT_SECRET',
          'the gateway does not read JWT_SECRET from the Secret',
        ],
        [
          !containerEnv(m, 'ingester').has('JWT_SECRET'),
          'the ingester gets JWT_SECRET, which it does not need',
        ],
        [
          !Object.values(config(m, 'gateway')).includes('a-secret-of-at-least-32-characters-long'),
          'the secret is in a ConfigMap',
        ],
      ]),
  },
  {
    name: 'secure channels with an inline JWKS',
    values: { gateway: { secureChannels: true, jwt: { jwks: JWKS, claimValidators: { iss: 'supabase' } } } },
    expect: (m) =>
      expectAll([
        [
          JSON.parse(config(m, 'gateway').JWT_JWKS ?? '{}').keys?.[0]?.kid === 'walcast-test',
          'JWT_JWKS is not the JWKS',
        ],
        [
          config(m, 'gateway').JWT_CLAIM_VALIDATORS === '{"iss":"supabase"}',
          'JWT_CLAIM_VALIDATORS is not the claims',
        ],
        [!('JWT_SECRET' in secret(m)), 'the Secret has a JWT_SECRET though none was given'],
      ]),
  },
  {
    name: 'an external Redis over TLS',
    values: { secrets: { redisUrl: 'rediss://:redis-password@redis.example.com:6380' } },
    expect: (m) =>
      expectAll([
        [
          secret(m).REDIS_URL === 'rediss://:redis-password@redis.example.com:6380',
          'the Secret REDIS_URL is not the URL',
        ],
        ...['ingester', 'gateway'].map((of) => [
          secretRef(m, of, 'REDIS_URL')?.key === 'REDIS_URL' &&
            secretRef(m, of, 'REDIS_URL')?.optional === false,
          `the ${of} does not require REDIS_URL from the Secret`,
        ]),
        ...['ingester', 'gateway'].map((of) => [
          !('REDIS_CLUSTER_NODES' in config(m, of)),
          `the ${of} ConfigMap has REDIS_CLUSTER_NODES`,
        ]),
        [
          !JSON.stringify(all(m, 'ConfigMap')).includes('redis-password'),
          'the Redis password is in a ConfigMap',
        ],
      ]),
  },
  {
    name: 'a Redis Cluster',
    values: { redis: { clusterNodes: ['redis-0.redis:6379', 'redis-1.redis:6379', '[fd00::3]:6379'] } },
    expect: (m) =>
      ['ingester', 'gateway'].flatMap((of) =>
        expectAll([
          [
            config(m, of).REDIS_CLUSTER_NODES === 'redis-0.redis:6379,redis-1.redis:6379,[fd00::3]:6379',
            `the ${of} ConfigMap's REDIS_CLUSTER_NODES is not the nodes`,
          ],
        ]),
      ),
  },
  {
    name: 'a Redis Cluster with credentials, in the Secret',
    values: {
      secrets: {
        redisClusterNodes:
          'redis://default:cluster-password@redis-0.redis:6379,redis://default:cluster-password@redis-1.redis:6379',
      },
    },
    expect: (m) => [
      ...expectAll([
        [
          secret(m).REDIS_CLUSTER_NODES ===
            'redis://default:cluster-password@redis-0.redis:6379,redis://default:cluster-password@redis-1.redis:6379',
          'the Secret REDIS_CLUSTER_NODES is not the nodes',
        ],
        [
          !JSON.stringify(all(m, 'ConfigMap')).includes('cluster-password'),
          'the Redis Cluster password is in a ConfigMap',
        ],
      ]),
      ...['ingester', 'gateway'].flatMap((of) =>
        expectAll([
          [
            secretRef(m, of, 'REDIS_CLUSTER_NODES')?.key === 'REDIS_CLUSTER_NODES' &&
              secretRef(m, of, 'REDIS_CLUSTER_NODES')?.optional === true,
            `the ${of} does not read REDIS_CLUSTER_NODES from the Secret`,
          ],
          [!('REDIS_CLUSTER_NODES' in config(m, of)), `the ${of} ConfigMap has REDIS_CLUSTER_NODES`],
        ]),
      ),
    ],
  },
  {
    name: 'the change history sized, and off',
    values: { redis: { history: { enabled: false, maxLen: 50000, ttl: '6h' } } },
    expect: (m) => [
      ...expectAll([
        [config(m, 'ingester').HISTORY === 'false', 'the ingester ConfigMap has no HISTORY=false'],
        [config(m, 'gateway').HISTORY === 'false', 'the gateway ConfigMap has no HISTORY=false'],
        [config(m, 'ingester').HISTORY_MAX_LEN === '50000', 'the ingester ConfigMap has no HISTORY_MAX_LEN'],
        [config(m, 'ingester').HISTORY_TTL === '6h', 'the ingester ConfigMap has no HISTORY_TTL'],
      ]),
    ],
  },
  {
    name: 'autoscaling off, three gateways',
    values: { gateway: { autoscaling: { enabled: false }, replicas: 3 } },
    expect: (m) =>
      expectAll([
        [all(m, 'HorizontalPodAutoscaler').length === 0, 'an HPA was rendered'],
        [
          find(m, 'Deployment', 'gateway').spec.replicas === 3,
          'the gateway Deployment does not run 3 replicas',
        ],
      ]),
  },
  {
    name: 'autoscaling on, 3 to 12 gateways at 60% CPU',
    values: {
      gateway: {
        autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 12, targetCPUUtilizationPercentage: 60 },
      },
    },
    expect: (m) => {
      const hpa = all(m, 'HorizontalPodAutoscaler')[0];
      return expectAll([
        [hpa?.spec.minReplicas === 3 && hpa?.spec.maxReplicas === 12, 'the HPA is not 3 to 12'],
        [
          hpa?.spec.metrics?.[0]?.resource?.target?.averageUtilization === 60,
          'the HPA does not target 60% CPU',
        ],
        [
          hpa?.spec.behavior?.scaleDown?.stabilizationWindowSeconds === 600,
          'the HPA lost its slow scale-down',
        ],
      ]);
    },
  },
  {
    name: 'metrics on ports of their own, with ServiceMonitors',
    values: {
      gateway: { metricsPort: 9101 },
      ingester: { metricsPort: 9102 },
      metrics: { serviceMonitor: { enabled: true, labels: { release: 'prometheus' } } },
    },
    expect: (m) => {
      const monitors = all(m, 'ServiceMonitor');
      const publicService = all(m, 'Service').find((s) => s.metadata.name.endsWith('-gateway'));
      const metricsService = all(m, 'Service').find((s) => s.metadata.name.endsWith('-gateway-metrics'));
      return expectAll([
        [
          monitors.length === 2 && monitors.every((s) => s.spec.endpoints[0].port === 'metrics'),
          'the ServiceMonitors do not both scrape the metrics ports',
        ],
        [
          monitors.every((s) => s.metadata.labels.release === 'prometheus'),
          'the ServiceMonitors lack their labels',
        ],
        [metricsService?.spec.ports[0].port === 9101, 'no headless gateway-metrics Service on 9101'],
        [
          (publicService?.spec.ports ?? []).every((p) => p.name !== 'metrics'),
          'the public gateway Service exposes metrics',
        ],
        [
          config(m, 'gateway').METRICS_PORT === '9101' && config(m, 'ingester').METRICS_PORT === '9102',
          'METRICS_PORT not in the ConfigMaps',
        ],
      ]);
    },
  },
  {
    name: 'an Ingress with TLS, the inspector on',
    values: {
      gateway: {
        metricsPort: 9101,
        inspector: true,
        ingress: {
          enabled: true,
          className: 'nginx',
          annotations: { 'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600' },
          hosts: [{ host: 'realtime.example.com', paths: [{ path: '/', pathType: 'Prefix' }] }],
          tls: [{ secretName: 'realtime-tls', hosts: ['realtime.example.com'] }],
        },
      },
    },
    expect: (m) => {
      const ingress = all(m, 'Ingress')[0];
      return expectAll([
        [ingress?.spec.ingressClassName === 'nginx', 'no Ingress of class nginx'],
        [
          ingress?.spec.rules?.[0]?.host === 'realtime.example.com',
          'the Ingress does not route realtime.example.com',
        ],
        [ingress?.spec.tls?.[0]?.secretName === 'realtime-tls', 'the Ingress has no TLS'],
        [
          ingress?.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-read-timeout'] === '3600',
          'the Ingress lost its annotation',
        ],
        [config(m, 'gateway').INSPECTOR === 'true', 'INSPECTOR is not "true"'],
      ]);
    },
  },
  {
    name: 'the defaults of the images: no Ingress, the inspector left to NODE_ENV',
    values: {},
    expect: (m) =>
      expectAll([
        [all(m, 'Ingress').length === 0, 'an Ingress was rendered'],
        [
          !('INSPECTOR' in config(m, 'gateway')),
          'INSPECTOR set though empty (the image runs with NODE_ENV=production: off)',
        ],
      ]),
  },
  {
    name: 'one ingester',
    values: { ingester: { replicas: 1 } },
    expect: (m) =>
      expectAll([
        [
          !find(m, 'PodDisruptionBudget', 'ingester'),
          'a PDB for a single ingester (it would block every drain)',
        ],
      ]),
  },
];

module.exports = { CASES };
