-- Retention. A released ticket is the audit of its life: it stays for the audit retention, listed
-- only within the list window (mutex_list), and its idempotency key is remembered only as long
-- (a key may be used again after that). Renewals in lock_events go after the same retention.


-- Forgets the idempotency keys of tickets released before p_keys_before; deletes tickets
-- released before p_tickets_before and renewals recorded before it. At most p_limit of each per
-- call (a large purge never holds many locks for long). A waiter that left is kept while the
-- head of its lock's queue has not passed it: queue positions count it. Returns the tickets deleted.
CREATE OR REPLACE FUNCTION mutex_purge(p_tickets_before timestamptz, p_keys_before timestamptz, p_limit integer)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_purged integer;
BEGIN
  UPDATE tickets SET idempotency_key = NULL
   WHERE id IN (SELECT id FROM tickets
                 WHERE idempotency_key IS NOT NULL AND status = 'released' AND released_at < p_keys_before LIMIT p_limit);
  WITH gone AS (
    DELETE FROM tickets WHERE id IN (
      SELECT t.id FROM tickets t
       WHERE t.status = 'released' AND t.released_at < p_tickets_before
         AND (t.lease_start IS NOT NULL OR t.lock_id IS NULL OR t.ordinal <= (SELECT l.passed FROM locks l WHERE l.id = t.lock_id))
       LIMIT p_limit)
    RETURNING 1)
  SELECT count(*)::integer INTO v_purged FROM gone;
  DELETE FROM lock_events WHERE id IN (SELECT id FROM lock_events WHERE at < p_tickets_before LIMIT p_limit);
  RETURN v_purged;
END $$;
