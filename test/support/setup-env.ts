import 'reflect-metadata';

// Quiet logs in tests unless asked for.
process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'silent';
