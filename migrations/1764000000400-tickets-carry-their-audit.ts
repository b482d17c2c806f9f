import { MigrationInterface, QueryRunner } from 'typeorm';

const END_TYPES = `('released', 'expired', 'cleared', 'cancelled', 'timed_out')`;

/**
 * A ticket's row becomes the audit of its own life. It already said who queued it and when, when
 * it was granted with which fencing token, and when and why it ended; it now also holds the ids
 * of those three events (from the audit trail's own sequence, so every event keeps one numeric,
 * increasing id), who ended it and the note the system gave. `lock_events` keeps what a ticket
 * row cannot show: renewals, and the rows of tickets purged before this version.
 *
 * A lock cycle so writes its ticket and its lock row and nothing else: no three audit rows with
 * four indexes each. Released tickets stay for the audit retention (AUDIT_RETENTION_DAYS) instead
 * of an hour; no b-tree indexes them, so ending a ticket adds no index entry but its primary
 * key's. What finds them instead:
 * - a BRIN index over the event ids and the end time (the audit, newest first, and the purge);
 * - one chain per lock and per pool, newest first: `locks.last_ended` / `pools.last_ended` name
 *   the ticket that ended there last, and each ended ticket names the one before it
 *   (`tickets.previous_ended` for its own lock or its pool, `ticket_locks.previous_ended` for
 *   each lock of a set or each member a pool ticket held). Lists and a lock's audit walk it.
 * A deleted pool's tickets keep its names (`pool_repository`, `pool_name`) for the audit.
 *
 * Existing tickets take the ids of their events from `lock_events`, whose rows then go; their
 * chains are built from their end times. Fill factors leave room on each page for a row's next
 * version, so an update stays on its page.
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
    await q.query(`ALTER TABLE locks ADD COLUMN last_ended uuid NULL`);
    await q.query(`ALTER TABLE pools ADD COLUMN last_ended uuid NULL`);
    await q.query(`ALTER TABLE ticket_locks ADD COLUMN previous_ended uuid NULL`);

    // The events of live and retained tickets move into their rows.
    await q.query(`UPDATE tickets t SET queued_event = e.id FROM lock_events e WHERE e.ticket_id = t.id AND e.type = 'queued'`);
    await q.query(`UPDATE tickets t SET granted_event = e.id FROM lock_events e WHERE e.ticket_id = t.id AND e.type = 'granted'`);
    await q.query(`
      UPDATE tickets t SET ended_event = e.id, released_by_id = e.actor_id, release_note = e.reason
        FROM lock_events e WHERE e.ticket_id = t.id AND e.type IN ${END_TYPES}`);
    await q.query(`
      DELETE FROM lock_events e
       WHERE e.type <> 'renewed' AND EXISTS (SELECT 1 FROM tickets t WHERE t.id = e.ticket_id)`);

    // The chains, oldest end first: a ticket of one lock on its lock, a pool ticket on its pool,
    // a set's ticket (and a pool ticket's members) on each of its locks.
    await q.query(`
      WITH ended AS (
        SELECT t.id, t.lock_id, t.pool_id, t.released_at, t.seq, EXISTS (SELECT 1 FROM ticket_locks x WHERE x.ticket_id = t.id) AS has_locks
          FROM tickets t WHERE t.status = 'released'
      ), own AS (
        SELECT id, CASE WHEN pool_id IS NOT NULL THEN NULL ELSE lock_id END AS lock_id, pool_id,
               lag(id) OVER (PARTITION BY pool_id, CASE WHEN pool_id IS NOT NULL THEN NULL ELSE lock_id END ORDER BY released_at, seq) AS previous
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
        ) e ORDER BY e.released_at DESC, e.seq DESC LIMIT 1)`);
    await q.query(`
      UPDATE pools p SET last_ended = (
        SELECT t.id FROM tickets t WHERE t.pool_id = p.id AND t.status = 'released' ORDER BY t.released_at DESC, t.seq DESC LIMIT 1)`);

    // Released tickets: found through the chains and the BRIN index instead.
    await q.query(`DROP INDEX tickets_released`);
    await q.query(`DROP INDEX tickets_released_at`);
    await q.query(`
      CREATE INDEX tickets_journal ON tickets USING brin (queued_event, granted_event, ended_event, released_at)
        WITH (pages_per_range = 32, autosummarize = on)`);
    // A pool's tickets, whatever their state (its list, and its deletion).
    await q.query(`CREATE INDEX tickets_pool ON tickets (pool_id) WHERE pool_id IS NOT NULL`);
    // The renewals of the tickets a lock's audit walks.
    await q.query(`CREATE INDEX lock_events_ticket ON lock_events (ticket_id) WHERE ticket_id IS NOT NULL`);
    await q.query(`ALTER TABLE tickets SET (fillfactor = 85)`);
    await q.query(`ALTER TABLE locks SET (fillfactor = 70)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE locks RESET (fillfactor)`);
    await q.query(`ALTER TABLE tickets RESET (fillfactor)`);
    await q.query(`DROP INDEX lock_events_ticket`);
    await q.query(`DROP INDEX tickets_pool`);
    await q.query(`DROP INDEX tickets_journal`);
    // The ticket rows' events go back to lock_events, as the older functions write them.
    await q.query(`
      INSERT INTO lock_events (id, lock_id, repository, resource, resources, pool, ticket_id, type, actor_id, actor_name, fencing_token, reason, at)
      SELECT e.id, e.lock_id, e.repository, e.resource, e.resources, e.pool, e.ticket_id, e.type, e.actor_id, e.actor_name, e.fencing_token, e.reason, e.at
        FROM tickets t, mutex_ticket_events(t) e`);
    await q.query(`CREATE INDEX tickets_released ON tickets (lock_id, released_at DESC) WHERE status = 'released'`);
    await q.query(`CREATE INDEX tickets_released_at ON tickets (released_at) WHERE status = 'released'`);
    await q.query(`ALTER TABLE ticket_locks DROP COLUMN previous_ended`);
    await q.query(`ALTER TABLE pools DROP COLUMN last_ended`);
    await q.query(`ALTER TABLE locks DROP COLUMN last_ended`);
    await q.query(`
      ALTER TABLE tickets
        DROP COLUMN queued_event, DROP COLUMN granted_event, DROP COLUMN ended_event, DROP COLUMN released_by_id,
        DROP COLUMN release_note, DROP COLUMN previous_ended, DROP COLUMN pool_repository, DROP COLUMN pool_name`);
  }
}
