export * from './change-event';
export * from './topics';
export * from './bus-message';
export * from './legacy-topic';
export * from './error-codes';
export * from './log-codes';
export * from './phoenix/message';
export * from './phoenix/codec';
