import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tickets for several resources at once, and pools (a named set of resources of a repository of
 * which a ticket asks for `count` free members).
 *
 * A ticket's resources are in `ticket_locks` when there is more than one (a set, or the members a
 * pool ticket got): with their order and, once granted, each one's fencing token. A ticket for one
 * resource keeps just `tickets.lock_id`, as before, so the common case writes no extra row.
 * `tickets.lock_id` is its first resource (NULL while a pool ticket waits: it has none yet).
 *
 * `locks.coupled` counts what ties a lock to others: the live tickets for several resources that
 * include it, and the pools it belongs to. A lock with none is settled alone, under its own row
 * lock, exactly as before; a coupled one with the other coupled locks of its repository, under
 * the repository's advisory lock (src/mutex/sql/25-coupled.sql).
 */
export class ResourceSetsAndPools1764000000300 implements MigrationInterface {
  name = 'ResourceSetsAndPools1764000000300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE pools (
        id bigserial PRIMARY KEY,
        repository text NOT NULL,
        name text NOT NULL,
        description text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT pools_repository_name UNIQUE (repository, name)
      )`);
    await q.query(`
      CREATE TABLE pool_members (
        pool_id bigint NOT NULL REFERENCES pools(id) ON DELETE CASCADE,
        lock_id bigint NOT NULL REFERENCES locks(id),
        -- the order the owner listed them in
        position smallint NOT NULL,
        PRIMARY KEY (pool_id, lock_id)
      )`);
    await q.query(`CREATE INDEX pool_members_lock ON pool_members (lock_id)`);

    await q.query(`ALTER TABLE locks ADD COLUMN coupled integer NOT NULL DEFAULT 0, ADD COLUMN freed_at timestamptz NULL`);
    // The coupled locks of a repository: the domain a coupled change settles.
    await q.query(`CREATE INDEX locks_coupled ON locks (repository) WHERE coupled > 0`);

    await q.query(`
      ALTER TABLE tickets
        ALTER COLUMN lock_id DROP NOT NULL,
        ALTER COLUMN ordinal DROP NOT NULL,
        ADD COLUMN lock_count smallint NOT NULL DEFAULT 1,
        ADD COLUMN pool_id bigint NULL REFERENCES pools(id) ON DELETE SET NULL`);
    // Pool tickets waiting, in queue order.
    await q.query(`CREATE INDEX tickets_pool_queue ON tickets (pool_id, seq) WHERE status = 'queued' AND pool_id IS NOT NULL`);
    await q.query(`
      CREATE TABLE ticket_locks (
        ticket_id uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
        lock_id bigint NOT NULL REFERENCES locks(id),
        -- the order asked (a set) or granted (a pool's members)
        position smallint NOT NULL,
        fencing_token bigint NULL,
        PRIMARY KEY (ticket_id, lock_id)
      )`);
    await q.query(`CREATE INDEX ticket_locks_lock ON ticket_locks (lock_id)`);

    // One audit row per transition names all of a ticket's resources, or its pool while it waits
    // for members (then it has no lock yet).
    await q.query(`ALTER TABLE lock_events ALTER COLUMN lock_id DROP NOT NULL, ADD COLUMN resources text[] NULL, ADD COLUMN pool text NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM lock_events WHERE lock_id IS NULL`);
    await q.query(`ALTER TABLE lock_events DROP COLUMN resources, DROP COLUMN pool, ALTER COLUMN lock_id SET NOT NULL`);
    await q.query(`DROP TABLE ticket_locks`);
    await q.query(`DELETE FROM tickets WHERE lock_id IS NULL`);
    await q.query(`ALTER TABLE tickets DROP COLUMN pool_id, DROP COLUMN lock_count, ALTER COLUMN lock_id SET NOT NULL`);
    await q.query(`UPDATE tickets SET ordinal = 0 WHERE ordinal IS NULL`);
    await q.query(`ALTER TABLE tickets ALTER COLUMN ordinal SET NOT NULL`);
    await q.query(`ALTER TABLE locks DROP COLUMN coupled, DROP COLUMN freed_at`);
    await q.query(`DROP TABLE pool_members, pools`);
  }
}
