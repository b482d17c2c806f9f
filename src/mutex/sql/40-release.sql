-- Ending tickets by request: a release (holder or waiter), a Dapr unlock by owner, a force clear.
-- Whatever frees a lock grants its next waiter in the same transaction. A ticket of a set or a
-- pool, or of a coupled lock, ends through mutex_end_ticket under its repository's lock
-- (25-coupled.sql); every other ticket as before, under its lock's guard alone.


-- The lock of ticket p_ticket_id if it is found under (p_repository, p_resource) by its own lock
-- (NULL parts match anything), read after taking its guard; a row of NULLs when not.
CREATE OR REPLACE FUNCTION mutex_guarded_lock_of(p_ticket_id uuid, p_repository text, p_resource text) RETURNS locks
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
BEGIN
  IF p_repository IS NOT NULL AND p_resource IS NOT NULL THEN -- the guard by name, then one read
    PERFORM mutex_guard_lock(p_repository, p_resource);
    SELECT x.* INTO l FROM tickets t JOIN locks x ON x.id = t.lock_id
     WHERE t.id = p_ticket_id AND x.repository = p_repository AND x.resource = p_resource;
    RETURN l;
  END IF;
  SELECT * INTO l FROM locks
   WHERE id = (SELECT lock_id FROM tickets WHERE id = p_ticket_id)
     AND repository = coalesce(p_repository, repository) AND resource = coalesce(p_resource, resource);
  IF FOUND THEN
    PERFORM mutex_guard_lock(l.repository, l.resource);
    SELECT * INTO l FROM locks WHERE id = l.id;
  END IF;
  RETURN l;
END $$;


-- Releases a ticket found under (p_repository, p_resource): a holder frees its lock(s) and the
-- next waiters are granted at once; a waiter leaves the queue ('cancelled'). Only the named
-- lock's guard is taken, so a batch holds just the locks it ordered. p_wait: see
-- mutex_lock_repository. outcome: ok | not_found | ended (it had already ended: nothing
-- changes, and the ticket tells why) | retry. The answer is json text (see mutex_ticket_text).
CREATE OR REPLACE FUNCTION mutex_release_ticket(
  p_ticket_id uuid, p_repository text, p_resource text, p_actor_id uuid, p_actor_name text, p_now timestamptz DEFAULT NULL,
  p_wait boolean DEFAULT false
) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_now timestamptz;
  v_settled jsonb := '{"granted": [], "ended": []}';
  v_after jsonb := '{"granted": [], "ended": []}';
  v_repository_locked boolean := CASE WHEN p_wait AND p_repository IS NOT NULL THEN mutex_lock_repository(p_repository, true) ELSE false END;
  v_found record;
BEGIN
  IF p_repository IS NOT NULL AND p_resource IS NOT NULL THEN -- the guard by name, then one read of both rows
    PERFORM mutex_guard_lock(p_repository, p_resource);
    SELECT x AS l, k AS t INTO v_found FROM tickets k JOIN locks x ON x.id = k.lock_id
     WHERE k.id = p_ticket_id AND x.repository = p_repository AND x.resource = p_resource;
    IF FOUND THEN l := v_found.l; t := v_found.t; END IF;
  ELSE
    l := mutex_guarded_lock_of(p_ticket_id, p_repository, p_resource);
    IF l.id IS NOT NULL THEN SELECT * INTO t FROM tickets WHERE id = p_ticket_id; END IF;
  END IF;
  IF l.id IS NULL OR l.coupled > 0 THEN
    SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
    IF NOT FOUND OR NOT mutex_ticket_under(t, p_repository, p_resource) THEN RETURN (v_settled || '{"outcome": "not_found"}')::json; END IF;
    IF NOT v_repository_locked AND NOT mutex_lock_repository((mutex_ticket_names(t)).repository, p_wait) THEN
      RETURN '{"outcome": "retry"}';
    END IF;
    RETURN mutex_release_coupled(t, p_actor_id, p_actor_name, coalesce(p_now, clock_timestamp()))::json;
  END IF;
  v_now := coalesce(p_now, clock_timestamp());
  IF mutex_lock_due(l, v_now) THEN
    v_settled := mutex_settle(l.id, v_now);
    SELECT * INTO l FROM locks WHERE id = l.id;
    SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
  END IF;
  IF t.status = 'released' THEN
    RETURN json_build_object('outcome', 'ended', 'ticket', mutex_ticket_text(t, l),
                             'granted', v_settled->'granted', 'ended', v_settled->'ended');
  END IF;
  IF t.status = 'acquired' AND NOT mutex_ticket_is_set(t) THEN
    -- mutex_end_holder, written out for the most common release of all (two calls fewer)
    UPDATE tickets SET status = 'released', release_reason = 'released', released_at = v_now, released_by = p_actor_name,
           released_by_id = p_actor_id, release_note = NULL, ended_event = mutex_next_event(), previous_ended = l.last_ended,
           updated_at = v_now
     WHERE id = t.id RETURNING * INTO t;
    UPDATE locks SET holder_id = NULL, holder_expires_at = NULL, freed_at = v_now, last_ended = t.id, last_event = t.ended_event,
           updated_at = v_now
     WHERE id = l.id;
  ELSIF t.status = 'acquired' THEN
    t := mutex_end_holder(l, t, 'released', p_actor_id, p_actor_name, NULL, v_now);
  ELSE
    t := mutex_end_single(t, l.last_ended, 'cancelled', p_actor_id, p_actor_name, NULL, v_now);
    UPDATE locks SET queue_length = queue_length - 1, last_ended = t.id, last_event = t.ended_event, updated_at = v_now WHERE id = l.id;
  END IF;
  IF l.queue_length > 0 THEN -- someone waits: grant the head now
    v_after := mutex_settle(l.id, v_now);
  END IF;
  RETURN json_build_object('outcome', 'ok', 'ticket', mutex_ticket_text(t, l),
    'granted', (v_settled->'granted') || (v_after->'granted'),
    'ended', (v_settled->'ended') || (v_after->'ended'));
END $$;


-- The release of a set's or pool's ticket, or of one on a coupled lock, with its repository
-- locked: every coupled lock settles, the ticket ends, and its locks go to the next waiters.
CREATE OR REPLACE FUNCTION mutex_release_coupled(t tickets, p_actor_id uuid, p_actor_name text, p_now timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_repository text := (mutex_ticket_names(t)).repository;
  v_locks bigint[] := mutex_ticket_lock_ids(t);
  v_settled jsonb;
  v_after jsonb;
BEGIN
  v_settled := mutex_settle_coupled(v_repository, p_now, v_locks);
  SELECT * INTO t FROM tickets WHERE id = t.id;
  IF t.status = 'released' THEN
    RETURN (v_settled - 'claimed') || jsonb_build_object('outcome', 'ended',
      'ticket', mutex_ticket_json(t, (SELECT l FROM locks l WHERE l.id = t.lock_id)));
  END IF;
  v_locks := mutex_ticket_lock_ids(t); -- a pool ticket may have been granted its members just now
  t := mutex_end_ticket(t, CASE WHEN t.status = 'acquired' THEN 'released' ELSE 'cancelled' END::release_reason,
                        p_actor_id, p_actor_name, NULL, p_now);
  v_after := mutex_grant_waiters(v_repository, mutex_coupled_lock_ids(v_repository) || v_locks, p_now);
  RETURN jsonb_build_object('outcome', 'ok', 'ticket', mutex_ticket_json(t, (SELECT l FROM locks l WHERE l.id = t.lock_id)),
    'granted', (v_settled->'granted') || (v_after->'granted'), 'ended', v_settled->'ended');
END $$;


-- Dapr unlock: releases the lock if p_owner's ticket holds it.
-- status: 0 released, 1 no such lock (or nobody holds it), 2 held by another owner; outcome ok | retry
CREATE OR REPLACE FUNCTION mutex_release_owner(
  p_repository text, p_resource text, p_owner text, p_actor_id uuid, p_actor_name text, p_now timestamptz DEFAULT NULL,
  p_wait boolean DEFAULT false
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_now timestamptz;
  v_settled jsonb;
  v_after jsonb;
  v_repository_locked boolean := CASE WHEN p_wait THEN mutex_lock_repository(p_repository, true) ELSE false END;
BEGIN
  PERFORM mutex_guard_lock(p_repository, p_resource);
  SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource;
  IF NOT FOUND THEN RETURN '{"outcome": "ok", "status": 1, "granted": [], "ended": []}'; END IF;
  v_now := coalesce(p_now, clock_timestamp());
  IF l.coupled > 0 THEN
    IF NOT v_repository_locked AND NOT mutex_lock_repository(p_repository, false) THEN RETURN '{"outcome": "retry"}'; END IF;
    v_settled := mutex_settle_coupled(p_repository, v_now) - 'claimed';
  ELSE
    v_settled := mutex_settle(l.id, v_now);
  END IF;
  SELECT * INTO l FROM locks WHERE id = l.id;
  IF l.holder_id IS NULL THEN RETURN v_settled || '{"outcome": "ok", "status": 1}'; END IF;
  SELECT * INTO t FROM tickets WHERE id = l.holder_id;
  IF t.owner IS DISTINCT FROM p_owner THEN RETURN v_settled || '{"outcome": "ok", "status": 2}'; END IF;
  IF l.coupled > 0 THEN
    v_after := mutex_release_coupled(t, p_actor_id, p_actor_name, v_now);
    RETURN jsonb_build_object('outcome', 'ok', 'status', 0, 'ticket', v_after->'ticket',
      'granted', (v_settled->'granted') || (v_after->'granted'),
      'ended', (v_settled->'ended') || jsonb_build_array(v_after->'ticket') || (v_after->'ended'));
  END IF;
  t := mutex_end_holder(l, t, 'released', p_actor_id, p_actor_name, NULL, v_now);
  v_after := mutex_settle(l.id, v_now);
  RETURN jsonb_build_object('outcome', 'ok', 'status', 0,
    'ticket', mutex_ticket_json(t, l),
    'granted', (v_settled->'granted') || (v_after->'granted'),
    'ended', (v_settled->'ended') || jsonb_build_array(mutex_ticket_json(t, l)) || (v_after->'ended'));
END $$;


-- Force clear of a lock: its holder and every waiter that named it end with 'cleared' (a set's
-- ticket with all its resources); of a pool: every ticket of the pool, waiting or holding. A
-- lease or wait limit that had already run out is settled first, so the audit says 'expired' or
-- 'timed_out', not 'cleared'. outcome: ok | retry
CREATE OR REPLACE FUNCTION mutex_clear_lock(
  p_repository text, p_resource text, p_actor_id uuid, p_actor_name text, p_now timestamptz DEFAULT NULL,
  p_wait boolean DEFAULT false
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_now timestamptz;
  v_settled jsonb;
  v_ended jsonb := '[]';
  v_pool_id bigint;
  v_freed bigint[] := '{}';
  v_after jsonb;
  v_repository_locked boolean := CASE WHEN p_wait THEN mutex_lock_repository(p_repository, true) ELSE false END;
BEGIN
  PERFORM mutex_guard_lock(p_repository, p_resource);
  SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource;
  IF NOT FOUND THEN
    SELECT id INTO v_pool_id FROM pools WHERE repository = p_repository AND name = p_resource;
    IF NOT FOUND THEN RETURN '{"outcome": "ok", "granted": [], "ended": []}'; END IF;
  END IF;
  v_now := coalesce(p_now, clock_timestamp());
  IF l.id IS NOT NULL AND l.coupled = 0 THEN
    v_settled := mutex_settle(l.id, v_now);
    SELECT * INTO l FROM locks WHERE id = l.id;
    -- The holder first, then the waiters in queue order.
    FOR t IN SELECT * FROM tickets WHERE lock_id = l.id AND status IN ('queued', 'acquired') ORDER BY seq LOOP
      t := mutex_end_single(t, l.last_ended, 'cleared', p_actor_id, p_actor_name, 'force clear', v_now);
      l.last_ended := t.id;
      l.last_event := t.ended_event;
      v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, l));
    END LOOP;
    UPDATE locks SET holder_id = NULL, holder_expires_at = NULL, freed_at = CASE WHEN holder_id IS NULL THEN freed_at ELSE v_now END,
           queue_length = 0, passed = enqueued, last_ended = l.last_ended, last_event = l.last_event, updated_at = v_now
     WHERE id = l.id;
    RETURN jsonb_build_object('outcome', 'ok', 'granted', v_settled->'granted', 'ended', (v_settled->'ended') || v_ended);
  END IF;

  IF NOT v_repository_locked AND NOT mutex_lock_repository(p_repository, false) THEN RETURN '{"outcome": "retry"}'; END IF;
  v_settled := mutex_settle_coupled(p_repository, v_now);
  SELECT * INTO l FROM locks WHERE id = l.id; -- its holder may have changed (an expiry, a grant)
  FOR t IN
    SELECT * FROM tickets x WHERE x.status IN ('queued', 'acquired') AND (
        (v_pool_id IS NOT NULL AND x.pool_id = v_pool_id)
     OR x.id = l.holder_id
     OR (x.status = 'queued' AND (x.lock_id = l.id OR x.id IN (SELECT ticket_id FROM ticket_locks WHERE lock_id = l.id))))
     ORDER BY x.status = 'queued', x.seq
  LOOP
    v_freed := v_freed || mutex_ticket_lock_ids(t);
    t := mutex_end_ticket(t, 'cleared', p_actor_id, p_actor_name, 'force clear', v_now);
    v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, (SELECT x FROM locks x WHERE x.id = t.lock_id)));
  END LOOP;
  IF l.id IS NOT NULL THEN
    UPDATE locks SET passed = enqueued, updated_at = v_now WHERE id = l.id;
  END IF;
  v_after := mutex_grant_waiters(p_repository, mutex_coupled_lock_ids(p_repository) || v_freed, v_now);
  RETURN jsonb_build_object('outcome', 'ok', 'granted', (v_settled->'granted') || (v_after->'granted'),
    'ended', (v_settled->'ended') || v_ended);
END $$;
