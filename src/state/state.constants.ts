/** Size guards: Dapr sets none, but one request must not be able to tie up the database. */
export const STATE_LIMITS = {
  keyLength: 1_000,
  saveItems: 1_000,
  bulkKeys: 1_000,
  transactionOperations: 1_000,
  /** Page size when the query names none (Dapr would return everything; we page instead). */
  defaultPageLimit: 1_000,
  maxPageLimit: 1_000,
  /** Deepest offset a paging token may carry (fits the 9-digit token and an int parameter). */
  maxOffset: 999_000_000,
  filterDepth: 16,
  filterNodes: 200,
  inValues: 1_000,
  sortKeys: 16,
  pathSegments: 32,
  /** ttlInSeconds above this is refused (68 years; keeps `now() + interval` far from overflow). */
  maxTtlSeconds: 2_147_483_647,
} as const;

/** BullMQ queue and job scheduler of the TTL purge; the fixed scheduler id makes every instance share one schedule. */
export const STATE_TTL_QUEUE = 'state-ttl';
export const STATE_TTL_PURGE_SCHEDULER_ID = 'state-ttl-purge';
export const STATE_TTL_PURGE_JOB = 'purge-expired';
/** Rows deleted per statement, so a large purge never holds long locks. */
export const STATE_TTL_PURGE_BATCH = 5_000;
