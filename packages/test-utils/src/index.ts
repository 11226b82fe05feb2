export type { Backends, BackendStrategy, PgBackend, RedisBackend, StartBackendsOptions } from './backends';
export { freePort, LocalRedisCluster, queryRedis } from '@walcast/local-services';
export {
  decodePhoenixFrame,
  encodePhoenixFrame,
  type FramePayload,
  type PhoenixFrame,
  type PhoenixMessage,
  type PhoenixVsn,
} from './phoenix-frame';
export {
  PhoenixTestClient,
  WebSocketUpgradeError,
  type CloseInfo,
  type PhoenixConnectOptions,
} from './phoenix-test-client';
export { ServiceProcess, spawnService, type ServiceExit, type SpawnServiceOptions } from './service-process';
export { startBackends } from './start-backends';
export { SUPABASE_AUTH_SQL } from '@walcast/local-services';
export { TcpProxy, type ProxyTarget } from './tcp-proxy';
export { uniqueName } from './unique-name';
export { waitFor, type WaitForOptions } from './wait-for';
export {
  GATEWAY_ENTRY,
  INGESTER_ENTRY,
  WalcastStack,
  sql,
  startStackWithSchema,
  type StackOptions,
} from './walcast-stack';
