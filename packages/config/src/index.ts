export * from './settings';
export * from './load-config';
