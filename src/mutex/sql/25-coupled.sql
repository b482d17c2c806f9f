-- Coupled locks: sets of resources and pools, settled by one global order.
--
-- A ticket may ask for several resources of a repository at once (all or none), or for `count`
-- free members of a pool. Every ticket has its place in one global order, `tickets.seq`; a
-- waiting ticket is granted when all it needs is free and no waiter earlier in that order can
-- use any of it: a resource goes to the earliest waiter that can use it, by name or through a
-- pool. So FIFO holds per resource, and since the earliest waiter always gets what it needs as
-- soon as its holders leave, nobody starves and nothing deadlocks.
--
-- The locks a live set or a pool ties together are "coupled" (`locks.coupled` counts the ties).
-- They change only under their repository's advisory lock, which a change takes before any
-- lock's guard (10-tickets.sql), or with a try while it already holds one (never waiting then, so no two
-- transactions can wait on each other). A change to a coupled lock settles every coupled lock of
-- its repository at once (`mutex_settle_coupled`), by the rules of 20-settle.sql: waiters past
-- their wait limit leave, holders past their lease are released, then waiters are granted in
-- order (`mutex_grant_waiters`). Locks nothing couples never take this path.


-- The repository's advisory lock, for this transaction: waiting for it when p_wait, else only if
-- it is free right now (a caller that already holds a lock's guard, or runs in a batch, must not
-- wait: it answers 'retry' and is called again, alone, with p_wait).
CREATE OR REPLACE FUNCTION mutex_lock_repository(p_repository text, p_wait boolean) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF p_wait THEN
    PERFORM pg_advisory_xact_lock(7302119, hashtext(p_repository));
    RETURN true;
  END IF;
  RETURN pg_try_advisory_xact_lock(7302119, hashtext(p_repository));
END $$;


-- The coupled locks of a repository.
CREATE OR REPLACE FUNCTION mutex_coupled_lock_ids(p_repository text) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM locks WHERE repository = p_repository AND coupled > 0
$$;


-- The waiters that can use any of these locks (by name, or through a pool of p_repository), in
-- the global order.
CREATE OR REPLACE FUNCTION mutex_waiters_of(p_repository text, p_lock_ids bigint[]) RETURNS SETOF tickets
LANGUAGE sql STABLE AS $$
  SELECT t.* FROM tickets t
   WHERE t.status = 'queued'
     AND (t.lock_id = ANY (p_lock_ids)
          OR t.id IN (SELECT x.ticket_id FROM ticket_locks x WHERE x.lock_id = ANY (p_lock_ids))
          OR t.pool_id IN (SELECT p.id FROM pools p WHERE p.repository = p_repository))
   ORDER BY t.seq
$$;


-- Is anything due among the coupled locks of a repository: a holder past its lease, a waiter
-- past its wait limit? (A coupled change always grants what it can, so time is all that makes
-- something due.)
CREATE OR REPLACE FUNCTION mutex_coupled_due(p_repository text, p_now timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT 1 FROM locks l WHERE l.repository = p_repository AND l.coupled > 0
                    AND l.holder_id IS NOT NULL AND l.holder_expires_at <= p_now)
      OR EXISTS (SELECT 1 FROM mutex_waiters_of(p_repository, mutex_coupled_lock_ids(p_repository)) w
                  WHERE w.wait_deadline <= p_now)
$$;


-- Ends a ticket of any kind: a holder frees every lock it holds, a waiter leaves every queue it
-- is in. Ties it made (a set's) are undone. It becomes the newest ended ticket of each lock it
-- named or held and of its pool. The caller grants what this frees.
CREATE OR REPLACE FUNCTION mutex_end_ticket(
  t tickets, p_reason release_reason, p_actor_id uuid, p_actor_name text, p_note text, p_now timestamptz
) RETURNS tickets
LANGUAGE plpgsql AS $$
DECLARE
  r tickets;
  v_locks bigint[] := mutex_ticket_lock_ids(t);
  v_untie integer := CASE WHEN t.lock_count > 1 THEN 1 ELSE 0 END;
  v_listed boolean := EXISTS (SELECT 1 FROM ticket_locks WHERE ticket_id = t.id);
BEGIN
  UPDATE tickets SET status = 'released', release_reason = p_reason, released_at = p_now, released_by = p_actor_name,
         released_by_id = p_actor_id, release_note = p_note, ended_event = mutex_next_event(),
         -- its place in its pool's chain, or in its one lock's (a set's places are in ticket_locks)
         previous_ended = CASE WHEN t.pool_id IS NOT NULL THEN (SELECT last_ended FROM pools WHERE id = t.pool_id)
                               WHEN NOT v_listed THEN (SELECT last_ended FROM locks WHERE id = t.lock_id) END,
         updated_at = p_now
   WHERE id = t.id RETURNING * INTO r;
  IF v_listed THEN
    UPDATE ticket_locks x SET previous_ended = l.last_ended FROM locks l WHERE x.ticket_id = t.id AND l.id = x.lock_id;
  END IF;
  IF t.pool_id IS NOT NULL THEN
    UPDATE pools SET last_ended = t.id, last_event = r.ended_event WHERE id = t.pool_id;
  END IF;
  IF t.status = 'acquired' THEN
    UPDATE locks SET holder_id = NULL, holder_expires_at = NULL, freed_at = p_now, coupled = coupled - v_untie,
           last_ended = t.id, last_event = r.ended_event, updated_at = p_now
     WHERE id = ANY (v_locks) AND holder_id = t.id;
  ELSE
    UPDATE locks SET queue_length = queue_length - 1, coupled = coupled - v_untie, last_ended = t.id, last_event = r.ended_event,
           updated_at = p_now
     WHERE id = ANY (v_locks);
  END IF;
  RETURN r;
END $$;


-- Grants a waiting ticket the locks given (its set, or the pool members picked for it): each
-- lock's fence + 1 is its fencing token there, one lease from p_now covers them all.
CREATE OR REPLACE FUNCTION mutex_grant(t tickets, p_locks bigint[], p_now timestamptz) RETURNS tickets
LANGUAGE plpgsql AS $$
DECLARE
  v_expires timestamptz := p_now + make_interval(secs => t.lease_duration_seconds);
  v_pool boolean := t.pool_id IS NOT NULL;
  v_event bigint := mutex_next_event();
  v_token bigint;
  v_first bigint;
  r tickets;
BEGIN
  FOR i IN 1 .. cardinality(p_locks) LOOP
    UPDATE locks SET fence = fence + 1, holder_id = t.id, holder_expires_at = v_expires,
           -- a set is counted in the queue of each of its locks; a pool ticket in none
           queue_length = queue_length - CASE WHEN v_pool THEN 0 ELSE 1 END,
           -- the queue of its first lock has moved past it (see mutex_queue_position)
           passed = CASE WHEN id = t.lock_id AND t.ordinal IS NOT NULL THEN greatest(passed, t.ordinal) ELSE passed END,
           -- several members held by a pool ticket are tied until it ends, even if the pool goes
           coupled = coupled + CASE WHEN v_pool AND t.lock_count > 1 THEN 1 ELSE 0 END,
           last_event = v_event, updated_at = p_now
     WHERE id = p_locks[i] RETURNING fence INTO v_token;
    IF i = 1 THEN v_first := v_token; END IF;
    IF v_pool THEN
      INSERT INTO ticket_locks (ticket_id, lock_id, position, fencing_token) VALUES (t.id, p_locks[i], i - 1, v_token);
    ELSIF t.lock_count > 1 THEN
      UPDATE ticket_locks SET fencing_token = v_token WHERE ticket_id = t.id AND lock_id = p_locks[i];
    END IF;
  END LOOP;
  UPDATE tickets SET status = 'acquired', lease_start = p_now, lease_expires_at = v_expires, fencing_token = v_first,
         lock_id = coalesce(lock_id, p_locks[1]), granted_event = v_event, updated_at = p_now
   WHERE id = t.id RETURNING * INTO r;
  RETURN r;
END $$;


-- The locks a pool ticket would get now: `count` members that are free and that no earlier waiter
-- claims, the one free the longest first; fewer when there are not enough.
CREATE OR REPLACE FUNCTION mutex_pick_members(t tickets, p_taken bigint[]) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(id), '{}') FROM (
    SELECT l.id FROM pool_members m JOIN locks l ON l.id = m.lock_id
     WHERE m.pool_id = t.pool_id AND l.holder_id IS NULL AND NOT l.id = ANY (p_taken)
     ORDER BY coalesce(l.freed_at, l.created_at), l.id
     LIMIT t.lock_count) picked
$$;


-- Grants, in the global order, every waiter of these locks whose locks are all free and claimed
-- by no earlier waiter; a waiter that cannot be granted claims every lock it can use. Returns
-- {granted: [ticket], claimed: [lock id]}: what stays claimed is what the waiters want.
CREATE OR REPLACE FUNCTION mutex_grant_waiters(p_repository text, p_lock_ids bigint[], p_now timestamptz) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  t tickets;
  v_claimed bigint[] := '{}';
  v_want bigint[];
  v_granted jsonb := '[]';
BEGIN
  FOR t IN SELECT * FROM mutex_waiters_of(p_repository, p_lock_ids) LOOP
    IF t.pool_id IS NOT NULL THEN
      v_want := mutex_pick_members(t, v_claimed);
      IF cardinality(v_want) < t.lock_count THEN v_want := NULL; END IF;
    ELSE
      v_want := mutex_ticket_lock_ids(t);
      IF v_want && v_claimed OR EXISTS (SELECT 1 FROM locks WHERE id = ANY (v_want) AND holder_id IS NOT NULL) THEN
        v_want := NULL;
      END IF;
    END IF;
    IF v_want IS NULL THEN
      v_claimed := v_claimed || mutex_usable_lock_ids(t);
    ELSE
      t := mutex_grant(t, v_want, p_now);
      v_granted := v_granted || jsonb_build_array(mutex_ticket_json(t, (SELECT l FROM locks l WHERE l.id = t.lock_id)));
    END IF;
  END LOOP;
  RETURN jsonb_build_object('granted', v_granted, 'claimed', to_jsonb(v_claimed));
END $$;


-- Brings the coupled locks of a repository up to date at p_now (plus p_also, locks a change has
-- just untied or is tying, whose waiters count too): waiters past their wait limit leave, holders
-- past their lease are released, then waiters are granted in the global order. The caller holds
-- the repository's advisory lock. Returns {granted: [ticket], ended: [ticket], claimed: [lock id]}.
CREATE OR REPLACE FUNCTION mutex_settle_coupled(p_repository text, p_now timestamptz, p_also bigint[] DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  t tickets;
  v_locks bigint[] := mutex_coupled_lock_ids(p_repository) || p_also;
  v_ended jsonb := '[]';
  v_pass jsonb;
BEGIN
  -- Locks not yet coupled may be in use by single-lock calls that hold their guards: wait for them
  -- (in one order, so two such waits never close a cycle).
  PERFORM mutex_guard_lock(repository, resource) FROM (
    SELECT repository, resource FROM locks WHERE id = ANY (p_also) ORDER BY mutex_lock_key(repository, resource)) also;

  -- 1. Waiters past their wait limit leave.
  FOR t IN SELECT * FROM mutex_waiters_of(p_repository, v_locks) w WHERE w.wait_deadline <= p_now LOOP
    t := mutex_end_ticket(t, 'timed_out', NULL, 'system', 'waited longer than its wait limit', p_now);
    v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, (SELECT l FROM locks l WHERE l.id = t.lock_id)));
  END LOOP;

  -- 2. Holders past their lease are released.
  FOR t IN
    SELECT * FROM tickets WHERE status = 'acquired' AND lease_expires_at <= p_now
       AND id IN (SELECT holder_id FROM locks WHERE id = ANY (v_locks)) ORDER BY seq
  LOOP
    t := mutex_end_ticket(t, 'expired', NULL, 'system', 'lease ended', p_now);
    v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, (SELECT l FROM locks l WHERE l.id = t.lock_id)));
  END LOOP;

  -- 3. Waiters are granted in order.
  v_pass := mutex_grant_waiters(p_repository, v_locks, p_now);
  RETURN jsonb_build_object('granted', v_pass->'granted', 'ended', v_ended, 'claimed', v_pass->'claimed');
END $$;
