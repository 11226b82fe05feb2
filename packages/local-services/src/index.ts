export { findPostgresBinDir, hasPostgresBinaries, postgresVersion } from './find-postgres-bin-dir';
export { findRedisServer } from './find-redis-server';
export { freePort } from './free-port';
export { LocalServiceError, type LocalServiceErrorCode } from './local-service-error';
export {
  DEFAULT_POSTGRES_SETTINGS,
  LocalPostgres,
  type LocalPostgresOptions,
  type PostgresStopMode,
} from './local-postgres';
export { LocalRedis, type LocalRedisOptions } from './local-redis';
export { CLUSTER_SLOTS, LocalRedisCluster, type LocalRedisClusterOptions } from './local-redis-cluster';
export { parseClusterNodes, type ClusterNodeView } from './cluster-nodes';
export { queryRedis, RedisReplyError, type RespValue } from './redis-query';
export { OrphanGuard, type OrphanGuardOptions } from './orphan-guard';
export { pingPostgres } from './postgres-ping';
export { pingRedis } from './redis-ping';
export { SUPABASE_AUTH_SQL } from './supabase-auth';
