-- Tickets as the service reads them, their place in the queue, and the audit trail.
--
-- Every change to a lock runs inside one of the mutex_* functions of this folder, in one
-- transaction that first takes that lock's row lock (SELECT … FOR UPDATE), so changes to a lock
-- are linearizable across instances, and each request is one round trip. Time is `p_now` when a
-- caller passes it (the contract tests do, to control the clock), otherwise the database clock
-- read once the row lock is held.
--
-- These files are applied at start (src/database/sql-function-files.ts) whenever their content
-- changes, in file-name order, all in one transaction.


-- Position in the queue: 0 for the holder, 1 for the next waiter, NULL once released.
--
-- Every ticket takes its lock's next ordinal, and every ordinal up to `locks.passed` has left
-- the queue (granted, or removed before the head reached it). So a waiter's position is the
-- ordinals between `passed` and its own, less the waiters in between that left without being
-- granted (the only holes, found through the tickets_holes index). Its cost does not grow with
-- the depth of the queue. `l` must be the lock as it is now.
CREATE OR REPLACE FUNCTION mutex_queue_position(t tickets, l locks) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF t.status = 'acquired' THEN RETURN 0; END IF;
  IF t.status = 'released' THEN RETURN NULL; END IF;
  RETURN (t.ordinal - l.passed - (
    SELECT count(*) FROM tickets h
     WHERE h.lock_id = t.lock_id AND h.status = 'released' AND h.lease_start IS NULL
       AND h.ordinal > l.passed AND h.ordinal < t.ordinal))::integer;
END $$;


-- A ticket as the service reads it (src/mutex/domain/ticket.ts maps it): the row, its lock's
-- names and its queue position. Adding a column to `tickets` adds it here without a change.
CREATE OR REPLACE FUNCTION mutex_ticket_json(t tickets, l locks) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT to_jsonb(t) || jsonb_build_object(
    'repository', l.repository, 'resource', l.resource, 'queue_position', mutex_queue_position(t, l))
$$;


-- One row of the audit trail. A 'queued' event carries no fencing token: the ticket had none
-- yet, even when the same call then granted it.
CREATE OR REPLACE FUNCTION mutex_audit(
  l locks, t tickets, p_type lock_event_type, p_actor_id uuid, p_actor_name text, p_reason text, p_now timestamptz
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO lock_events (lock_id, repository, resource, ticket_id, type, actor_id, actor_name, fencing_token, reason, at)
  VALUES (l.id, l.repository, l.resource, t.id, p_type, p_actor_id, p_actor_name,
          CASE WHEN p_type = 'queued' THEN NULL ELSE t.fencing_token END, p_reason, p_now);
END $$;
