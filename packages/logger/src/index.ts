export * from './create-logger';
export * from './throttle';
