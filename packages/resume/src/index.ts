export * from './resumable';
