export * from './settings';
export * from './load-config';
export * from './run-service';
export * from './metrics-listener';
