-- Reconciliation: whatever is overdue gets settled even if its timer was lost (the instance that
-- armed it died, Redis lost the BullMQ job). Every instance runs the sweep (src/mutex/lock-sweeper.service.ts).


-- Settles every lock with a lease or wait limit past p_now, up to p_limit locks, earliest
-- deadline first. SKIP LOCKED: a
-- lock busy in another transaction gets settled there. Returns {granted: [...], ended: [...]}.
CREATE OR REPLACE FUNCTION mutex_sweep(p_limit integer, p_now timestamptz DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_lock_id bigint;
  v_now timestamptz := coalesce(p_now, clock_timestamp());
  v_settled jsonb;
  v_granted jsonb := '[]';
  v_ended jsonb := '[]';
BEGIN
  -- Earliest deadline first (then the oldest lock), each lock once.
  FOR v_lock_id IN
    SELECT due.lock_id FROM (
      (SELECT lock_id, lease_expires_at AS at FROM tickets
        WHERE status = 'acquired' AND lease_expires_at <= v_now ORDER BY lease_expires_at LIMIT p_limit)
      UNION ALL
      (SELECT lock_id, wait_deadline FROM tickets
        WHERE status = 'queued' AND wait_deadline <= v_now ORDER BY wait_deadline LIMIT p_limit)
    ) due GROUP BY due.lock_id ORDER BY min(due.at), due.lock_id LIMIT p_limit
  LOOP
    PERFORM 1 FROM locks WHERE id = v_lock_id FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
      v_settled := mutex_settle(v_lock_id, coalesce(p_now, clock_timestamp()));
      v_granted := v_granted || (v_settled->'granted');
      v_ended := v_ended || (v_settled->'ended');
    END IF;
  END LOOP;
  RETURN jsonb_build_object('outcome', 'ok', 'granted', v_granted, 'ended', v_ended);
END $$;


-- Milliseconds from p_now to the earliest lease end or wait limit of any lock (NULL: none), by
-- the database's clock: two index-only min() probes (tickets_lease_due, tickets_wait_due).
CREATE OR REPLACE FUNCTION mutex_next_deadline_in(p_now timestamptz DEFAULT NULL) RETURNS float8
LANGUAGE sql STABLE AS $$
  SELECT (EXTRACT(EPOCH FROM LEAST(
            (SELECT min(lease_expires_at) FROM tickets WHERE status = 'acquired'),
            (SELECT min(wait_deadline) FROM tickets WHERE status = 'queued' AND wait_deadline IS NOT NULL)
          ) - coalesce(p_now, clock_timestamp())) * 1000)::float8
$$;
