-- Retention. A released ticket is the audit of its life: it stays for the audit retention, listed
-- only within the list window (mutex_list), and its idempotency key is remembered only as long
-- (the key may be used again after that). Renewals go after the same retention, the other
-- lock_events rows of a ticket with it. No index finds old tickets (each would cost every lock
-- cycle a WAL record): the purge reads the table in physical order, a slice of pages per call
-- (src/mutex/postgres-lock-store.ts).


-- Over the tickets on heap pages [p_from_block, p_from_block + p_blocks): forgets the idempotency
-- keys of those released before p_keys_before, and deletes those released before
-- p_tickets_before, except a waiter that left while the head of its lock's queue has not passed it
-- (queue positions count it). Returns {purged, pages}: pages is the table's size in pages.
CREATE OR REPLACE FUNCTION mutex_purge_pages(
  p_tickets_before timestamptz, p_keys_before timestamptz, p_from_block bigint, p_blocks integer
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_from tid := format('(%s,0)', p_from_block)::tid;
  v_to tid := format('(%s,0)', least(p_from_block + p_blocks, 4294967295))::tid;
  v_purged integer;
BEGIN
  UPDATE tickets SET idempotency_key = NULL
   WHERE ctid >= v_from AND ctid < v_to
     AND idempotency_key IS NOT NULL AND status = 'released' AND released_at < p_keys_before;
  WITH gone AS (
    DELETE FROM tickets t
     WHERE t.ctid >= v_from AND t.ctid < v_to AND t.status = 'released' AND t.released_at < p_tickets_before
       AND (t.lease_start IS NOT NULL OR t.lock_id IS NULL OR t.ordinal <= (SELECT l.passed FROM locks l WHERE l.id = t.lock_id))
    RETURNING t.id),
  -- (the events a ticket keeps in lock_events: from before tickets held them, or of a deleted pool)
  its_events AS (DELETE FROM lock_events e WHERE e.ticket_id IN (SELECT id FROM gone) AND e.type <> 'renewed')
  SELECT count(*)::integer INTO v_purged FROM gone;
  RETURN jsonb_build_object('purged', v_purged,
    'pages', pg_relation_size('tickets') / current_setting('block_size')::bigint);
END $$;


-- Deletes renewals recorded before p_before, and the other lock_events rows of tickets no longer
-- kept (from before tickets held their events), at most about p_limit. Reads oldest first (ids grow
-- with time) up to the first row recorded since p_before; the rows of tickets still kept stay in
-- its way, few (a deleted pool's tickets, a waiter kept until its queue passes it). Returns how many.
CREATE OR REPLACE FUNCTION mutex_purge_events(p_before timestamptz, p_limit integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_after bigint := 0;
  v_batch lock_events[];
  v_n integer;
  v_total integer := 0;
BEGIN
  LOOP
    v_batch := array(SELECT e FROM lock_events e WHERE e.id > v_after ORDER BY e.id LIMIT 1000);
    EXIT WHEN cardinality(v_batch) = 0;
    WITH gone AS (
      DELETE FROM lock_events WHERE id IN (
        SELECT b.id FROM unnest(v_batch) b
         WHERE b.at < p_before AND (b.type = 'renewed' OR NOT EXISTS (SELECT 1 FROM tickets t WHERE t.id = b.ticket_id)))
      RETURNING 1)
    SELECT count(*)::integer INTO v_n FROM gone;
    v_total := v_total + v_n;
    EXIT WHEN cardinality(v_batch) < 1000 OR v_total >= p_limit
           OR EXISTS (SELECT 1 FROM unnest(v_batch) b WHERE b.at >= p_before);
    v_after := (SELECT max(b.id) FROM unnest(v_batch) b);
  END LOOP;
  RETURN v_total;
END $$;
