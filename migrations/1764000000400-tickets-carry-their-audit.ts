import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A ticket's row becomes the audit of its own life. It already said who queued it and when, when
 * it was granted with which fencing token, and when and why it ended; it now also holds the ids
 * of those three events (from the audit trail's own sequence, so every event keeps one numeric,
 * increasing id), who ended it and the note the system gave. `lock_events` keeps renewals, and
 * the rows of the tickets that existed before this version.
 *
 * A lock cycle so writes its ticket and its lock row and nothing else: no three audit rows with
 * four indexes each. Released tickets stay for the audit retention (AUDIT_RETENTION_DAYS) instead
 * of an hour, and no index holds them but the primary key, so ending a ticket adds one index
 * entry. What finds them instead:
 * - one chain per lock and per pool, newest first: `locks.last_ended` / `pools.last_ended` name
 *   the ticket that ended there last, and each ended ticket names the one before it
 *   (`tickets.previous_ended` for its own lock or its pool, `ticket_locks.previous_ended` for each
 *   lock of a set and each member a pool ticket held). Lists and the audit walk it.
 * - `locks.last_event` / `pools.last_event`, the id of the latest event there: the audit's newest
 *   page merges the locks and pools with the latest events.
 * - the purge reads the table in physical order, a slice at a time.
 * A deleted pool's tickets keep its names (`pool_repository`, `pool_name`).
 *
 * The tickets that exist already keep their events in lock_events (their event columns stay
 * empty); their chains are built from their end times. Fill factors leave room on each page for
 * a row's next version, so an update stays on its page. A ticket's lock is no longer a foreign
 * key: locks are never deleted, and the check locked the lock's row (a WAL record) for every new
 * ticket.
 */
export class TicketsCarryTheirAudit1764000000400 implements MigrationInterface {
  name = 'TicketsCarryTheirAudit1764000000400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE tickets
        ADD COLUMN queued_event bigint NULL,
        ADD COLUMN granted_event bigint NULL,
        ADD COLUMN ended_event bigint NULL,
        ADD COLUMN released_by_id uuid NULL,
        ADD COLUMN release_note text NULL,
        ADD COLUMN previous_ended uuid NULL,
        ADD COLUMN pool_repository text NULL,
        ADD COLUMN pool_name text NULL`);
    await q.query(`ALTER TABLE locks ADD COLUMN last_ended uuid NULL, ADD COLUMN last_event bigint NULL`);
    await q.query(`ALTER TABLE pools ADD COLUMN last_ended uuid NULL, ADD COLUMN last_event bigint NULL`);
    await q.query(`ALTER TABLE ticket_locks ADD COLUMN previous_ended uuid NULL`);

    // The chains, oldest end first: a ticket of one lock on its lock, a pool ticket on its pool,
    // a set's ticket (and a pool ticket's members) on each of its locks.
    await q.query(`
      WITH ended AS (
        SELECT t.id, t.lock_id, t.pool_id, t.released_at, t.seq, EXISTS (SELECT 1 FROM ticket_locks x WHERE x.ticket_id = t.id) AS has_locks
          FROM tickets t WHERE t.status = 'released'
      ), own AS (
        SELECT id, lag(id) OVER (PARTITION BY pool_id, CASE WHEN pool_id IS NOT NULL THEN NULL ELSE lock_id END ORDER BY released_at, seq) AS previous
          FROM ended WHERE pool_id IS NOT NULL OR (NOT has_locks AND lock_id IS NOT NULL)
      )
      UPDATE tickets t SET previous_ended = own.previous FROM own WHERE own.id = t.id`);
    await q.query(`
      WITH chained AS (
        SELECT x.ticket_id, x.lock_id, lag(x.ticket_id) OVER (PARTITION BY x.lock_id ORDER BY t.released_at, t.seq) AS previous
          FROM ticket_locks x JOIN tickets t ON t.id = x.ticket_id WHERE t.status = 'released'
      )
      UPDATE ticket_locks x SET previous_ended = c.previous FROM chained c WHERE c.ticket_id = x.ticket_id AND c.lock_id = x.lock_id`);
    await q.query(`
      UPDATE locks l SET last_ended = (
        SELECT e.id FROM (
          SELECT t.id, t.released_at, t.seq FROM tickets t
           WHERE t.lock_id = l.id AND t.status = 'released' AND t.pool_id IS NULL
             AND NOT EXISTS (SELECT 1 FROM ticket_locks x WHERE x.ticket_id = t.id)
          UNION ALL
          SELECT t.id, t.released_at, t.seq FROM ticket_locks x JOIN tickets t ON t.id = x.ticket_id
           WHERE x.lock_id = l.id AND t.status = 'released'
        ) e ORDER BY e.released_at DESC, e.seq DESC LIMIT 1),
        last_event = (SELECT max(e.id) FROM lock_events e WHERE e.lock_id = l.id)`);
    await q.query(`
      UPDATE pools p SET
        last_ended = (SELECT t.id FROM tickets t WHERE t.pool_id = p.id AND t.status = 'released' ORDER BY t.released_at DESC, t.seq DESC LIMIT 1),
        last_event = (SELECT max(e.id) FROM lock_events e WHERE e.repository = p.repository AND e.pool = p.name)`);

    // Released tickets: found through the chains instead.
    await q.query(`DROP INDEX tickets_released`);
    await q.query(`DROP INDEX tickets_released_at`);
    // A pool's tickets, whatever their state (its list, and its deletion).
    await q.query(`CREATE INDEX tickets_pool ON tickets (pool_id) WHERE pool_id IS NOT NULL`);
    // lock_events: a ticket's renewals, and the rows that stand alone (the events of the tickets
    // from before this version, and of a deleted pool's tickets that never got a member).
    await q.query(`CREATE INDEX lock_events_ticket ON lock_events (ticket_id) WHERE ticket_id IS NOT NULL`);
    await q.query(`CREATE INDEX lock_events_standalone ON lock_events (id) WHERE type <> 'renewed'`);
    // The audit filters by actor as it reads; the purge goes by id (ids grow with time).
    await q.query(`DROP INDEX lock_events_actor, lock_events_actor_name, lock_events_at`);
    await q.query(`ALTER TABLE tickets DROP CONSTRAINT tickets_lock_id_fkey`);
    await q.query(`ALTER TABLE tickets SET (fillfactor = 85)`);
    await q.query(`ALTER TABLE locks SET (fillfactor = 70)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE locks RESET (fillfactor)`);
    await q.query(`ALTER TABLE tickets RESET (fillfactor)`);
    await q.query(`ALTER TABLE tickets ADD CONSTRAINT tickets_lock_id_fkey FOREIGN KEY (lock_id) REFERENCES locks(id)`);
    await q.query(`CREATE INDEX lock_events_actor ON lock_events (actor_id, id DESC)`);
    await q.query(`CREATE INDEX lock_events_actor_name ON lock_events (actor_name, id DESC)`);
    await q.query(`CREATE INDEX lock_events_at ON lock_events USING brin (at)`);
    await q.query(`DROP INDEX lock_events_standalone`);
    await q.query(`DROP INDEX lock_events_ticket`);
    await q.query(`DROP INDEX tickets_pool`);
    // The ticket rows' events go back to lock_events, as the older functions write them.
    await q.query(`
      INSERT INTO lock_events (id, lock_id, repository, resource, resources, pool, ticket_id, type, actor_id, actor_name, fencing_token, reason, at)
      SELECT e.id, e.lock_id, e.repository, e.resource, e.resources, e.pool, e.ticket_id, e.type, e.actor_id, e.actor_name, e.fencing_token, e.reason, e.at
        FROM tickets t, mutex_ticket_events(t) e`);
    await q.query(`CREATE INDEX tickets_released ON tickets (lock_id, released_at DESC) WHERE status = 'released'`);
    await q.query(`CREATE INDEX tickets_released_at ON tickets (released_at) WHERE status = 'released'`);
    await q.query(`ALTER TABLE ticket_locks DROP COLUMN previous_ended`);
    await q.query(`ALTER TABLE pools DROP COLUMN last_ended, DROP COLUMN last_event`);
    await q.query(`ALTER TABLE locks DROP COLUMN last_ended, DROP COLUMN last_event`);
    await q.query(`
      ALTER TABLE tickets
        DROP COLUMN queued_event, DROP COLUMN granted_event, DROP COLUMN ended_event, DROP COLUMN released_by_id,
        DROP COLUMN release_note, DROP COLUMN previous_ended, DROP COLUMN pool_repository, DROP COLUMN pool_name`);
  }
}
