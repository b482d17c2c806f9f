-- The lock rules: what is due, and how a lock is brought up to date.
--
-- A lock is settled at a moment `p_now` in this order:
--   1. waiters past their wait limit leave the queue ('timed_out');
--   2. a holder past its lease is released ('expired');
--   3. a free lock is granted to the head of its queue (fence + 1, a lease from p_now).
-- Every operation settles the lock it touches first when something is due, so nobody ever sees
-- an expired lease as held; timers, BullMQ jobs and the sweep settle locks nobody touches.
-- This file settles a lock that works alone; coupled locks (sets, pools) are settled together
-- with the others of their repository by the same rules (25-coupled.sql).
-- The pure model of these rules is src/mutex/domain/lock-store.machine.ts; the contract tests
-- (test/lock-store.contract.e2e-spec.ts) hold both to the same scenarios.


-- The earliest wait limit among a lock's waiters. Asked as min() so the plan is always a
-- one-entry index probe (tickets_lock_wait_due).
CREATE OR REPLACE FUNCTION mutex_next_wait_deadline(p_lock_id bigint) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT min(wait_deadline) FROM tickets
           WHERE lock_id = p_lock_id AND status = 'queued' AND wait_deadline IS NOT NULL);
END $$;


-- Is anything on this lock due at p_now: a holder past its lease, a free lock with waiters, a
-- waiter past its wait limit? The one test every operation and the sweep use before settling.
CREATE OR REPLACE FUNCTION mutex_lock_due(l locks, p_now timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT (l.holder_id IS NOT NULL AND l.holder_expires_at <= p_now)
      OR (l.holder_id IS NULL AND l.queue_length > 0)
      OR (l.queue_length > 0 AND mutex_next_wait_deadline(l.id) <= p_now)
$$;


-- Ends a ticket of a lock nothing couples (reason 'released', 'expired', 'cleared', 'cancelled' or
-- 'timed_out'), the lock's holder or one of its waiters, and makes it the newest of the lock's
-- ended tickets. The caller updates the lock's row: it frees the lock or shortens its queue, and
-- sets `last_ended` to this ticket. `p_previous` is the lock's last ended ticket so far.
CREATE OR REPLACE FUNCTION mutex_end_single(
  t tickets, p_previous uuid, p_reason release_reason, p_actor_id uuid, p_actor_name text, p_note text, p_now timestamptz
) RETURNS tickets
LANGUAGE plpgsql AS $$
DECLARE
  r tickets;
  -- its place in its lock's chain, or a pool ticket's in its pool's (read apart: a subquery in
  -- the UPDATE would have it planned again on every call)
  v_previous uuid := p_previous;
BEGIN
  IF t.pool_id IS NOT NULL THEN
    SELECT last_ended INTO v_previous FROM pools WHERE id = t.pool_id;
  END IF;
  UPDATE tickets SET status = 'released', release_reason = p_reason, released_at = p_now, released_by = p_actor_name,
         released_by_id = p_actor_id, release_note = p_note, ended_event = mutex_next_event(), previous_ended = v_previous,
         updated_at = p_now
   WHERE id = t.id RETURNING * INTO r;
  IF mutex_ticket_is_set(t) THEN
    -- A pool ticket on one member that its pool no longer ties (the pool shrank or went): its
    -- places in the chains, as mutex_end_ticket keeps them.
    UPDATE ticket_locks SET previous_ended = p_previous WHERE ticket_id = t.id;
    UPDATE pools SET last_ended = t.id, last_event = r.ended_event WHERE id = t.pool_id;
  END IF;
  RETURN r;
END $$;


-- Ends the holder's ticket (reason 'released', 'expired' or 'cleared') and frees the lock; the
-- caller then settles it to grant the next waiter. Returns the ended ticket.
CREATE OR REPLACE FUNCTION mutex_end_holder(
  l locks, t tickets, p_reason release_reason, p_actor_id uuid, p_actor_name text, p_note text, p_now timestamptz
) RETURNS tickets
LANGUAGE plpgsql AS $$
DECLARE
  r tickets;
BEGIN
  r := mutex_end_single(t, l.last_ended, p_reason, p_actor_id, p_actor_name, p_note, p_now);
  UPDATE locks SET holder_id = NULL, holder_expires_at = NULL, freed_at = p_now, last_ended = r.id, last_event = r.ended_event,
         updated_at = p_now
   WHERE id = l.id;
  RETURN r;
END $$;


-- Brings a lock up to date at p_now (the rules above). The caller holds the lock's guard.
-- Returns {granted: [ticket], ended: [ticket]}.
CREATE OR REPLACE FUNCTION mutex_settle(p_lock_id bigint, p_now timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_granted jsonb := '[]';
  v_ended jsonb := '[]';
BEGIN
  SELECT * INTO l FROM locks WHERE id = p_lock_id;

  -- 1. Waiters past their wait limit leave (in queue order).
  IF l.queue_length > 0 AND mutex_next_wait_deadline(p_lock_id) <= p_now THEN
    FOR t IN
      SELECT * FROM tickets WHERE lock_id = p_lock_id AND status = 'queued' AND wait_deadline <= p_now ORDER BY seq
    LOOP
      t := mutex_end_single(t, l.last_ended, 'timed_out', NULL, 'system', 'waited longer than its wait limit', p_now);
      v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, l));
      l.queue_length := l.queue_length - 1;
      l.last_ended := t.id;
      l.last_event := t.ended_event;
    END LOOP;
    UPDATE locks SET queue_length = l.queue_length, last_ended = l.last_ended, last_event = l.last_event, updated_at = p_now
     WHERE id = p_lock_id;
  END IF;

  -- 2. A holder past its lease is released.
  IF l.holder_id IS NOT NULL AND l.holder_expires_at <= p_now THEN
    SELECT * INTO t FROM tickets WHERE id = l.holder_id;
    t := mutex_end_holder(l, t, 'expired', NULL, 'system', 'lease ended', p_now);
    v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, l));
    l.holder_id := NULL;
    l.last_ended := t.id;
  END IF;

  -- 3. A free lock goes to the head of its queue.
  IF l.holder_id IS NULL AND l.queue_length > 0 THEN
    SELECT * INTO t FROM tickets WHERE lock_id = p_lock_id AND status = 'queued' ORDER BY seq LIMIT 1;
    IF FOUND THEN
      UPDATE tickets SET status = 'acquired', lease_start = p_now,
             lease_expires_at = p_now + make_interval(secs => lease_duration_seconds),
             fencing_token = l.fence + 1, granted_event = mutex_next_event(), updated_at = p_now
       WHERE id = t.id RETURNING * INTO t;
      -- FIFO: every ordinal up to the head's has now left the queue.
      UPDATE locks SET fence = t.fencing_token, holder_id = t.id, holder_expires_at = t.lease_expires_at,
             queue_length = l.queue_length - 1, passed = t.ordinal, last_event = t.granted_event, updated_at = p_now
       WHERE id = p_lock_id RETURNING * INTO l;
      v_granted := jsonb_build_array(mutex_ticket_json(t, l));
    ELSE
      UPDATE locks SET queue_length = 0, updated_at = p_now WHERE id = p_lock_id; -- the counter drifted; the index is the truth
    END IF;
  END IF;
  RETURN jsonb_build_object('granted', v_granted, 'ended', v_ended);
END $$;


-- Settles a ticket's lock (when something is due) and returns the ticket: what a status read,
-- a long-poll and a lease or wait-limit timer call. With p_repository/p_resource, a ticket found
-- under another path is 'not_found'. p_wait: see mutex_lock_repository (25-coupled.sql).
-- outcome: ok | not_found | retry
CREATE OR REPLACE FUNCTION mutex_settle_ticket(
  p_ticket_id uuid, p_repository text DEFAULT NULL, p_resource text DEFAULT NULL, p_now timestamptz DEFAULT NULL,
  p_wait boolean DEFAULT false
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_now timestamptz := coalesce(p_now, clock_timestamp());
  v_settled jsonb := '{"granted": [], "ended": []}';
  v_repository text;
BEGIN
  SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
  IF NOT FOUND THEN RETURN v_settled || '{"outcome": "not_found"}'; END IF;
  SELECT * INTO l FROM locks WHERE id = t.lock_id;
  -- Under its own lock's path (the common case, no query more), or under another of a set's or pool ticket's.
  IF (l.repository = coalesce(p_repository, l.repository) AND l.resource = coalesce(p_resource, l.resource)) IS NOT TRUE
     AND NOT (mutex_ticket_is_set(t) AND mutex_ticket_under(t, p_repository, p_resource)) THEN
    RETURN v_settled || '{"outcome": "not_found"}';
  END IF;
  IF t.status <> 'released' AND (mutex_ticket_is_set(t) OR l.coupled > 0) THEN
    v_repository := (mutex_ticket_names(t)).repository;
    IF mutex_coupled_due(v_repository, v_now) THEN
      IF NOT mutex_lock_repository(v_repository, p_wait) THEN RETURN '{"outcome": "retry"}'; END IF;
      v_settled := mutex_settle_coupled(v_repository, coalesce(p_now, clock_timestamp()));
      SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
      SELECT * INTO l FROM locks WHERE id = t.lock_id;
    END IF;
  -- Any overdue waiter ahead of this one changes its position, not only its own deadline.
  ELSIF t.status <> 'released' AND mutex_lock_due(l, v_now) THEN
    PERFORM mutex_guard_lock(l.repository, l.resource);
    SELECT * INTO l FROM locks WHERE id = t.lock_id;
    v_now := coalesce(p_now, clock_timestamp());
    IF l.coupled > 0 THEN -- coupled since it was read: its repository settles it
      IF NOT mutex_lock_repository(l.repository, false) THEN RETURN '{"outcome": "retry"}'; END IF;
      v_settled := mutex_settle_coupled(l.repository, v_now);
    ELSE
      v_settled := mutex_settle(l.id, v_now);
    END IF;
    SELECT * INTO l FROM locks WHERE id = t.lock_id;
    SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
  END IF;
  RETURN v_settled || jsonb_build_object('outcome', 'ok', 'ticket', mutex_ticket_json(t, l));
END $$;


-- Settles a lock (or a pool's locks) by name when something on it is due (before its list is
-- read). outcome: ok | not_found | retry
CREATE OR REPLACE FUNCTION mutex_settle_lock(
  p_repository text, p_resource text, p_now timestamptz DEFAULT NULL, p_wait boolean DEFAULT false
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
BEGIN
  SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource;
  IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM pools WHERE repository = p_repository AND name = p_resource) THEN
    RETURN '{"outcome": "not_found", "granted": [], "ended": []}';
  END IF;
  IF l.id IS NULL OR l.coupled > 0 THEN -- a pool, or a coupled lock
    IF NOT mutex_coupled_due(p_repository, coalesce(p_now, clock_timestamp())) THEN RETURN '{"outcome": "ok", "granted": [], "ended": []}'; END IF;
    IF NOT mutex_lock_repository(p_repository, p_wait) THEN RETURN '{"outcome": "retry"}'; END IF;
    RETURN mutex_settle_coupled(p_repository, coalesce(p_now, clock_timestamp())) || '{"outcome": "ok"}';
  END IF;
  IF NOT mutex_lock_due(l, coalesce(p_now, clock_timestamp())) THEN
    RETURN '{"outcome": "ok", "granted": [], "ended": []}';
  END IF;
  PERFORM mutex_guard_lock(p_repository, p_resource);
  SELECT * INTO l FROM locks WHERE id = l.id;
  IF l.coupled > 0 THEN
    IF NOT mutex_lock_repository(p_repository, false) THEN RETURN '{"outcome": "retry"}'; END IF;
    RETURN mutex_settle_coupled(p_repository, coalesce(p_now, clock_timestamp())) || '{"outcome": "ok"}';
  END IF;
  RETURN mutex_settle(l.id, coalesce(p_now, clock_timestamp())) || '{"outcome": "ok"}';
END $$;
