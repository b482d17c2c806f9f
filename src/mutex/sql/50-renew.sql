-- Renewing a lease: the holder extends it from now, so a long job can hold a lock on a short
-- lease for as long as it keeps renewing. A set's or pool ticket's one lease covers all its locks.


-- Extends the holder's lease from p_now by p_lease_seconds (or its current lease length).
-- p_wait: see mutex_lock_repository (25-coupled.sql).
-- outcome: ok | not_found | not_holder (queued, or it no longer holds: the ticket tells why) | retry
CREATE OR REPLACE FUNCTION mutex_renew_ticket(
  p_ticket_id uuid, p_repository text, p_resource text, p_lease_seconds integer,
  p_actor_id uuid, p_actor_name text, p_now timestamptz DEFAULT NULL, p_wait boolean DEFAULT false
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_now timestamptz;
  v_settled jsonb := '{"granted": [], "ended": []}';
  v_repository text;
  v_event bigint;
  v_repository_locked boolean := CASE WHEN p_wait AND p_repository IS NOT NULL THEN mutex_lock_repository(p_repository, true) ELSE false END;
BEGIN
  l := mutex_guarded_lock_of(p_ticket_id, p_repository, p_resource);
  IF l.id IS NULL OR l.coupled > 0 THEN
    SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
    IF NOT FOUND OR NOT mutex_ticket_under(t, p_repository, p_resource) THEN RETURN v_settled || '{"outcome": "not_found"}'; END IF;
    v_repository := (mutex_ticket_names(t)).repository;
    IF NOT v_repository_locked AND NOT mutex_lock_repository(v_repository, p_wait) THEN RETURN '{"outcome": "retry"}'; END IF;
    v_now := coalesce(p_now, clock_timestamp());
    v_settled := mutex_settle_coupled(v_repository, v_now) - 'claimed';
  ELSE
    v_now := coalesce(p_now, clock_timestamp());
    IF mutex_lock_due(l, v_now) THEN v_settled := mutex_settle(l.id, v_now); END IF;
  END IF;
  SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
  SELECT * INTO l FROM locks WHERE id = t.lock_id;
  IF t.status <> 'acquired' THEN
    RETURN v_settled || jsonb_build_object('outcome', 'not_holder', 'ticket', mutex_ticket_json(t, l));
  END IF;
  UPDATE tickets SET lease_duration_seconds = coalesce(p_lease_seconds, lease_duration_seconds),
         lease_expires_at = v_now + make_interval(secs => coalesce(p_lease_seconds, lease_duration_seconds)),
         renewed_at = v_now, updated_at = v_now
   WHERE id = t.id RETURNING * INTO t;
  v_event := mutex_audit_renewal(t, p_actor_id, p_actor_name, v_now);
  UPDATE locks SET holder_expires_at = t.lease_expires_at, last_event = v_event, updated_at = v_now
   WHERE id = ANY (mutex_ticket_lock_ids(t));
  SELECT * INTO l FROM locks WHERE id = t.lock_id;
  RETURN v_settled || jsonb_build_object('outcome', 'ok', 'ticket', mutex_ticket_json(t, l));
END $$;
