export * from './create-logger';
export * from './throttle';
export * from './latency-buckets';
