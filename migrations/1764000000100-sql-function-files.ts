import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The functions the migrations before the baseline wrote into the schema. From now on every
 * function is a source file under src/mutex/sql, applied at start and recorded in
 * `sql_functions`; these old ones go, so none lingers beside (or shadows) its successor.
 */
const PRE_BASELINE_FUNCTIONS = [
  'mutex_batch(jsonb)',
  'mutex_check(uuid)',
  'mutex_clear(text, text, uuid, text)',
  'mutex_due(locks, timestamptz)',
  'mutex_enqueue(text, text, uuid, uuid, text, text, text, text, integer, integer, text, boolean)',
  'mutex_event(locks, tickets, text, uuid, text, text, timestamptz)',
  'mutex_new_ticket(locks, boolean, uuid, uuid, text, text, text, text, integer, integer, text, timestamptz)',
  'mutex_next_wait_deadline(bigint)',
  'mutex_position(tickets)',
  'mutex_release(uuid, text, text, uuid, text)',
  'mutex_release_holder(locks, tickets, uuid, text, timestamptz)',
  'mutex_renew(uuid, text, text, integer, uuid, text)',
  'mutex_settle(bigint, timestamptz)',
  'mutex_settle_if_due(text, text)',
  'mutex_status(uuid, text, text)',
  'mutex_sweep(integer)',
  'mutex_ticket_json(tickets, text, text, integer)',
  'mutex_unlock_owner(text, text, text, uuid, text)',
];

/** Where the function files' hashes live (see src/database/sql-function-files.ts). */
export class SqlFunctionFiles1764000000100 implements MigrationInterface {
  name = 'SqlFunctionFiles1764000000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE sql_functions (
        file text PRIMARY KEY,
        sha256 text NOT NULL,
        -- the functions the file defined when it was applied (regprocedure text), dropped when it changes
        functions text[] NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    for (const signature of PRE_BASELINE_FUNCTIONS) await q.query(`DROP FUNCTION IF EXISTS ${signature}`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE sql_functions`);
  }
}
