export * from './bus';
export * from './memory-bus';
export * from './redis-bus';
export * from './subscriber-backlog';
export * from './backoff';
