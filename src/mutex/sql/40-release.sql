-- Ending tickets by request: a release (holder or waiter), a Dapr unlock by owner, a force clear.
-- Whatever frees the lock grants the head of its queue in the same transaction.


-- Releases a ticket of (p_repository, p_resource): a holder frees the lock and the next waiter is
-- granted at once; a waiter leaves the queue ('cancelled'). Only the named lock's row is taken, so
-- a batch holds just the locks it ordered. outcome: ok | not_found | ended (it had already
-- ended: nothing changes, and the ticket tells why)
CREATE OR REPLACE FUNCTION mutex_release_ticket(
  p_ticket_id uuid, p_repository text, p_resource text, p_actor_id uuid, p_actor_name text, p_now timestamptz DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_now timestamptz;
  v_settled jsonb := '{"granted": [], "ended": []}';
  v_after jsonb := '{"granted": [], "ended": []}';
BEGIN
  SELECT * INTO l FROM locks
   WHERE id = (SELECT lock_id FROM tickets WHERE id = p_ticket_id)
     AND repository = coalesce(p_repository, repository) AND resource = coalesce(p_resource, resource)
     FOR UPDATE;
  IF NOT FOUND THEN RETURN v_settled || '{"outcome": "not_found"}'; END IF;
  v_now := coalesce(p_now, clock_timestamp());
  IF mutex_lock_due(l, v_now) THEN
    v_settled := mutex_settle(l.id, v_now);
    SELECT * INTO l FROM locks WHERE id = l.id;
  END IF;
  SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
  IF t.status = 'released' THEN
    RETURN v_settled || jsonb_build_object('outcome', 'ended', 'ticket', mutex_ticket_json(t, l));
  END IF;
  IF t.status = 'acquired' THEN
    t := mutex_end_holder(l, t, 'released', p_actor_id, p_actor_name, NULL, v_now);
  ELSE
    UPDATE tickets SET status = 'released', release_reason = 'cancelled', released_at = v_now,
           released_by = p_actor_name, updated_at = v_now
     WHERE id = t.id RETURNING * INTO t;
    UPDATE locks SET queue_length = queue_length - 1, updated_at = v_now WHERE id = l.id;
    PERFORM mutex_audit(l, t, 'cancelled', p_actor_id, p_actor_name, NULL, v_now);
  END IF;
  IF l.queue_length > 0 THEN -- someone waits: grant the head now
    v_after := mutex_settle(l.id, v_now);
  END IF;
  RETURN jsonb_build_object('outcome', 'ok', 'ticket', mutex_ticket_json(t, l),
    'granted', (v_settled->'granted') || (v_after->'granted'),
    'ended', (v_settled->'ended') || (v_after->'ended'));
END $$;


-- Dapr unlock: releases the lock if p_owner holds it.
-- status: 0 released, 1 no such lock (or nobody holds it), 2 held by another owner
CREATE OR REPLACE FUNCTION mutex_release_owner(
  p_repository text, p_resource text, p_owner text, p_actor_id uuid, p_actor_name text, p_now timestamptz DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_now timestamptz;
  v_settled jsonb;
  v_after jsonb;
BEGIN
  SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource FOR UPDATE;
  IF NOT FOUND THEN RETURN '{"outcome": "ok", "status": 1, "granted": [], "ended": []}'; END IF;
  v_now := coalesce(p_now, clock_timestamp());
  v_settled := mutex_settle(l.id, v_now);
  SELECT * INTO l FROM locks WHERE id = l.id;
  IF l.holder_id IS NULL THEN RETURN v_settled || '{"outcome": "ok", "status": 1}'; END IF;
  SELECT * INTO t FROM tickets WHERE id = l.holder_id;
  IF t.owner IS DISTINCT FROM p_owner THEN RETURN v_settled || '{"outcome": "ok", "status": 2}'; END IF;
  t := mutex_end_holder(l, t, 'released', p_actor_id, p_actor_name, NULL, v_now);
  v_after := mutex_settle(l.id, v_now);
  RETURN jsonb_build_object('outcome', 'ok', 'status', 0,
    'ticket', mutex_ticket_json(t, l),
    'granted', (v_settled->'granted') || (v_after->'granted'),
    'ended', (v_settled->'ended') || jsonb_build_array(mutex_ticket_json(t, l)) || (v_after->'ended'));
END $$;


-- Force clear: the holder and every waiter end with 'cleared'. A lease or wait limit that had
-- already run out is settled first, so the audit says 'expired' or 'timed_out', not 'cleared'.
CREATE OR REPLACE FUNCTION mutex_clear_lock(
  p_repository text, p_resource text, p_actor_id uuid, p_actor_name text, p_now timestamptz DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_now timestamptz;
  v_settled jsonb;
  v_ended jsonb := '[]';
BEGIN
  SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource FOR UPDATE;
  IF NOT FOUND THEN RETURN '{"outcome": "ok", "granted": [], "ended": []}'; END IF;
  v_now := coalesce(p_now, clock_timestamp());
  v_settled := mutex_settle(l.id, v_now);
  -- The holder first, then the waiters in queue order.
  FOR t IN SELECT * FROM tickets WHERE lock_id = l.id AND status IN ('queued', 'acquired') ORDER BY seq LOOP
    UPDATE tickets SET status = 'released', release_reason = 'cleared', released_at = v_now,
           released_by = p_actor_name, updated_at = v_now
     WHERE id = t.id RETURNING * INTO t;
    PERFORM mutex_audit(l, t, 'cleared', p_actor_id, p_actor_name, 'force clear', v_now);
    v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, l));
  END LOOP;
  UPDATE locks SET holder_id = NULL, holder_expires_at = NULL, queue_length = 0, passed = enqueued, updated_at = v_now
   WHERE id = l.id;
  RETURN jsonb_build_object('outcome', 'ok', 'granted', v_settled->'granted', 'ended', (v_settled->'ended') || v_ended);
END $$;
