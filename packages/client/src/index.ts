export * from './sfp-client';
export * from './lock-waiter';
export * from './lease-keeper';
export * from './ci-metadata';
export * from './durations';
export * from './wait-progress';
export type { components, paths } from './generated/api-schema';
export * from './queue-target';
