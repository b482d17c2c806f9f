-- Reconciliation: whatever is overdue gets settled even if its timer was lost (the instance that
-- armed it died, Redis lost the BullMQ job). Every instance runs the sweep (src/mutex/lock-sweeper.service.ts).


-- Settles every lock with a lease or wait limit past p_now, up to p_limit locks, earliest
-- deadline first; coupled locks (sets, pools) by their repository, once per repository. Busy ones
-- are skipped: a lock whose guard another transaction holds, a repository another transaction
-- has locked, get settled there. Returns {granted: [...], ended: [...]}.
CREATE OR REPLACE FUNCTION mutex_sweep(p_limit integer, p_now timestamptz DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  d record;
  l locks;
  v_repository text;
  v_done text[] := '{}';
  v_now timestamptz := coalesce(p_now, clock_timestamp());
  v_settled jsonb;
  v_granted jsonb := '[]';
  v_ended jsonb := '[]';
BEGIN
  -- Earliest deadline first (then the oldest lock, then pool tickets), each lock once.
  FOR d IN
    SELECT due.lock_id, due.pool_id FROM (
      (SELECT lock_id, NULL::bigint AS pool_id, lease_expires_at AS at FROM tickets
        WHERE status = 'acquired' AND lease_expires_at <= v_now ORDER BY lease_expires_at LIMIT p_limit)
      UNION ALL
      (SELECT lock_id, CASE WHEN lock_id IS NULL THEN pool_id END, wait_deadline FROM tickets
        WHERE status = 'queued' AND wait_deadline <= v_now ORDER BY wait_deadline LIMIT p_limit)
    ) due GROUP BY due.lock_id, due.pool_id ORDER BY min(due.at), due.lock_id NULLS LAST, due.pool_id LIMIT p_limit
  LOOP
    v_settled := NULL;
    SELECT * INTO l FROM locks WHERE id = d.lock_id;
    IF l.id IS NOT NULL AND l.coupled = 0 AND mutex_try_guard_lock(l.repository, l.resource) THEN
      SELECT * INTO l FROM locks WHERE id = d.lock_id;
      IF l.coupled = 0 THEN v_settled := mutex_settle(l.id, coalesce(p_now, clock_timestamp())); END IF;
    END IF;
    IF v_settled IS NULL THEN
      v_repository := coalesce(l.repository, (SELECT repository FROM pools WHERE id = d.pool_id));
      IF v_repository IS NOT NULL AND NOT v_repository = ANY (v_done) AND mutex_lock_repository(v_repository, false) THEN
        v_done := v_done || v_repository;
        v_settled := mutex_settle_coupled(v_repository, coalesce(p_now, clock_timestamp()));
      END IF;
    END IF;
    IF v_settled IS NOT NULL THEN
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
