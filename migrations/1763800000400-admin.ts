import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The audit trail filtered by actor name (`system` for expiries, a pipeline's user name):
 * without this, a rare actor means scanning the whole trail backwards.
 * Actor ids, locks and time ranges are already indexed by the mutex migration.
 */
export class Admin1763800000400 implements MigrationInterface {
  name = 'Admin1763800000400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX IF NOT EXISTS lock_events_actor_name ON lock_events (actor_name, id DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS lock_events_actor_name`);
  }
}
