-- Tickets as the service reads them, their place in the queue, and the audit trail.
--
-- Every change to a lock runs inside one of the mutex_* functions of this folder, in one
-- transaction that first takes that lock's lock (mutex_guard_lock: a transaction-scoped advisory
-- lock on its name, which writes nothing, where a row lock would write a WAL record), so changes
-- to a lock are linearizable across instances, and each request is one round trip. Time is
-- `p_now` when a caller passes it (the contract tests do, to control the clock), otherwise the
-- database clock read once the lock is held.
--
-- A ticket asks for one resource (`tickets.lock_id`), for a set of them, or for `count` members
-- of a pool (the set's resources and a pool ticket's members are in `ticket_locks`). Locks that
-- sets or pools tie together are "coupled" (`locks.coupled > 0`) and change only under their
-- repository's advisory lock (25-coupled.sql); every other lock works alone, as it always has.
--
-- A ticket's row is the audit of its life: the ids of its queued, granted and ended events
-- (`queued_event`, `granted_event`, `ended_event`, from lock_events' sequence), who and when in
-- its columns; `lock_events` holds renewals (mutex_ticket_events, mutex_audit_trail).
--
-- These files are applied at start (src/database/sql-function-files.ts) whenever their content
-- changes, in file-name order, all in one transaction.


-- The advisory lock of the lock (p_repository, p_resource), held until the transaction ends. By
-- name, so it can be taken before the lock's row is read, or even exists. Every change to a lock
-- row holds it, or, for a coupled lock, its repository's lock (25-coupled.sql).
CREATE OR REPLACE FUNCTION mutex_lock_key(p_repository text, p_resource text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
  SELECT hashtextextended(p_repository || E'\x1f' || p_resource, 7302120)
$$;

CREATE OR REPLACE FUNCTION mutex_guard_lock(p_repository text, p_resource text) RETURNS void
LANGUAGE sql AS $$
  SELECT pg_advisory_xact_lock(mutex_lock_key(p_repository, p_resource))
$$;

-- The same, only if no other transaction holds it (a batch and the sweep never wait).
CREATE OR REPLACE FUNCTION mutex_try_guard_lock(p_repository text, p_resource text) RETURNS boolean
LANGUAGE sql AS $$
  SELECT pg_try_advisory_xact_lock(mutex_lock_key(p_repository, p_resource))
$$;


-- The next event id of the audit trail: one increasing numbering for ticket events and lock_events rows.
CREATE OR REPLACE FUNCTION mutex_next_event() RETURNS bigint
LANGUAGE sql AS $$
  SELECT nextval('lock_events_id_seq')
$$;


-- Does this ticket ask for more than one lock, or for a pool's members (of a pool that may since
-- have been deleted)?
CREATE OR REPLACE FUNCTION mutex_ticket_is_set(t tickets) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT t.lock_count > 1 OR t.pool_id IS NOT NULL OR t.pool_name IS NOT NULL
$$;


-- The locks a ticket names or holds, in order: its set, the members a pool ticket got, or its one lock.
CREATE OR REPLACE FUNCTION mutex_ticket_lock_ids(t tickets) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF mutex_ticket_is_set(t) THEN
    RETURN array(SELECT lock_id FROM ticket_locks WHERE ticket_id = t.id ORDER BY position);
  END IF;
  RETURN ARRAY[t.lock_id];
END $$;


-- The locks a ticket can use: those it names, or, while a pool ticket waits, every member of its pool.
CREATE OR REPLACE FUNCTION mutex_usable_lock_ids(t tickets) RETURNS bigint[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF t.status = 'queued' AND t.pool_id IS NOT NULL THEN
    RETURN array(SELECT lock_id FROM pool_members WHERE pool_id = t.pool_id ORDER BY position);
  END IF;
  RETURN mutex_ticket_lock_ids(t);
END $$;


-- A ticket's repository, its resources (in order) and its pool, whatever kind it is (a deleted
-- pool's ticket kept its names).
CREATE OR REPLACE FUNCTION mutex_ticket_names(t tickets, OUT repository text, OUT resources text[], OUT pool text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_pool_repository text := t.pool_repository;
BEGIN
  pool := t.pool_name;
  IF t.pool_id IS NOT NULL THEN
    SELECT p.repository, p.name INTO v_pool_repository, pool FROM pools p WHERE p.id = t.pool_id;
  END IF;
  SELECT coalesce(array_agg(l.resource ORDER BY x.position), '{}'), min(l.repository) INTO resources, repository
    FROM locks l JOIN unnest(mutex_ticket_lock_ids(t)) WITH ORDINALITY AS x(lock_id, position) ON l.id = x.lock_id;
  repository := coalesce(repository, v_pool_repository);
END $$;


-- Is the ticket found under the path (repository, name)? Under its own lock's; a set's ticket also
-- under each of its resources, and a pool ticket under its pool's name (kept when the pool is
-- deleted, so its holders can still renew and release there) and each member it holds.
-- NULL parts match anything.
CREATE OR REPLACE FUNCTION mutex_ticket_under(t tickets, p_repository text, p_resource text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF p_repository IS NULL AND p_resource IS NULL THEN RETURN true; END IF;
  IF EXISTS (SELECT 1 FROM locks l WHERE l.id = t.lock_id
               AND l.repository = coalesce(p_repository, l.repository) AND l.resource = coalesce(p_resource, l.resource)) THEN
    RETURN true;
  END IF;
  IF NOT mutex_ticket_is_set(t) THEN RETURN false; END IF;
  RETURN EXISTS (SELECT 1 FROM ticket_locks x JOIN locks l ON l.id = x.lock_id
                  WHERE x.ticket_id = t.id AND l.repository = coalesce(p_repository, l.repository)
                    AND l.resource = coalesce(p_resource, l.resource))
      OR EXISTS (SELECT 1 FROM pools p WHERE p.id = t.pool_id
                  AND p.repository = coalesce(p_repository, p.repository) AND p.name = coalesce(p_resource, p.name))
      OR (t.pool_id IS NULL AND t.pool_name IS NOT NULL
          AND t.pool_repository = coalesce(p_repository, t.pool_repository) AND t.pool_name = coalesce(p_resource, t.pool_name));
END $$;


-- Position in the queue: 0 for the holder, NULL once released, and for a waiter 1 + the waiters
-- queued before it that can use any lock it can use.
--
-- A ticket for one lock nothing couples to others is counted in O(1): every ticket takes its
-- lock's next ordinal, and every ordinal up to `locks.passed` has left the queue (granted, or
-- removed before the head reached it), so its position is the ordinals between `passed` and its
-- own, less the waiters in between that left without being granted (the only holes, found
-- through the tickets_holes index). Its cost does not grow with the depth of the queue. Sets,
-- pool tickets and tickets on coupled locks are counted. `l` must be the ticket's lock as it is now.
CREATE OR REPLACE FUNCTION mutex_queue_position(t tickets, l locks) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_usable bigint[];
BEGIN
  IF t.status = 'acquired' THEN RETURN 0; END IF;
  IF t.status = 'released' THEN RETURN NULL; END IF;
  IF NOT mutex_ticket_is_set(t) AND l.coupled = 0 THEN
    RETURN (t.ordinal - l.passed - (
      SELECT count(*) FROM tickets h
       WHERE h.lock_id = t.lock_id AND h.status = 'released' AND h.lease_start IS NULL
         AND h.ordinal > l.passed AND h.ordinal < t.ordinal))::integer;
  END IF;
  v_usable := mutex_usable_lock_ids(t);
  RETURN 1 + (
    SELECT count(*) FROM (
      SELECT w.id FROM tickets w
       WHERE w.lock_id = ANY (v_usable) AND w.status = 'queued' AND w.seq < t.seq
      UNION
      SELECT w.id FROM ticket_locks x JOIN tickets w ON w.id = x.ticket_id
       WHERE x.lock_id = ANY (v_usable) AND w.status = 'queued' AND w.seq < t.seq
      UNION
      SELECT w.id FROM pool_members m JOIN tickets w ON w.pool_id = m.pool_id
       WHERE m.lock_id = ANY (v_usable) AND w.status = 'queued' AND w.seq < t.seq
    ) ahead)::integer;
END $$;


-- A set's or a pool ticket's JSON: its row, names, position, and each resource's fencing token.
CREATE OR REPLACE FUNCTION mutex_set_ticket_json(t tickets) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  n record;
  v_tokens jsonb;
BEGIN
  n := mutex_ticket_names(t);
  SELECT coalesce(jsonb_object_agg(l.resource, x.fencing_token) FILTER (WHERE x.fencing_token IS NOT NULL), '{}')
    INTO v_tokens FROM ticket_locks x JOIN locks l ON l.id = x.lock_id WHERE x.ticket_id = t.id;
  RETURN to_jsonb(t) || jsonb_build_object(
    'repository', n.repository, 'resource', coalesce(n.resources[1], n.pool), 'resources', to_jsonb(n.resources),
    'fencing_tokens', v_tokens, 'pool', n.pool, 'queue_position', mutex_queue_position(t, NULL::locks));
END $$;


-- A ticket as the service reads it (ticketFromRow in src/mutex/domain/ticket.ts maps it): the
-- columns it reads, its lock's names and its queue position; a new column the service should
-- read is named here. Built as json text, not jsonb: no keys to sort, no binary form to build and
-- print again, so the answers of the hot path (queue, release), which embed it as it is, cost
-- less than half as much. A set's or pool ticket's JSON is mutex_set_ticket_json (every column).
CREATE OR REPLACE FUNCTION mutex_ticket_text(t tickets, l locks) RETURNS json
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN mutex_ticket_is_set(t) THEN mutex_set_ticket_json(t)::json
         ELSE json_build_object(
           'id', t.id, 'lock_id', t.lock_id, 'seq', t.seq, 'status', t.status, 'requester_id', t.requester_id,
           'requester_name', t.requester_name, 'owner', t.owner, 'source', t.source, 'reason', t.reason,
           'metadata', t.metadata, 'lease_duration_seconds', t.lease_duration_seconds, 'wait_deadline', t.wait_deadline,
           'idempotency_key', t.idempotency_key, 'lease_start', t.lease_start, 'lease_expires_at', t.lease_expires_at,
           'fencing_token', t.fencing_token, 'renewed_at', t.renewed_at, 'release_reason', t.release_reason,
           'released_at', t.released_at, 'released_by', t.released_by, 'lock_count', t.lock_count,
           'created_at', t.created_at, 'updated_at', t.updated_at,
           'repository', l.repository, 'resource', l.resource, 'queue_position', mutex_queue_position(t, l)) END
$$;


-- The same, as jsonb, for answers that gather tickets into lists (settling, clearing, reads).
CREATE OR REPLACE FUNCTION mutex_ticket_json(t tickets, l locks) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN mutex_ticket_is_set(t) THEN mutex_set_ticket_json(t) ELSE mutex_ticket_text(t, l)::jsonb END
$$;


-- Records a renewal in the audit trail (lock_events; a ticket's other events are in its own
-- row) and returns its id. A set's or pool ticket's row names all its resources (and its pool).
CREATE OR REPLACE FUNCTION mutex_audit_renewal(t tickets, p_actor_id uuid, p_actor_name text, p_now timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  n record := mutex_ticket_names(t);
  v_set boolean := mutex_ticket_is_set(t);
  v_id bigint := mutex_next_event();
BEGIN
  INSERT INTO lock_events (id, lock_id, repository, resource, resources, pool, ticket_id, type, actor_id, actor_name, fencing_token, reason, at)
  VALUES (v_id, t.lock_id, n.repository, coalesce(n.resources[1], n.pool),
          CASE WHEN v_set THEN nullif(n.resources, '{}') END, CASE WHEN v_set THEN n.pool END,
          t.id, 'renewed', p_actor_id, p_actor_name, t.fencing_token, NULL, p_now);
  RETURN v_id;
END $$;


-- The events of a ticket's life, as rows of the audit trail: queued (by its requester, with its
-- reason, no fencing token yet), granted (its first lease's start, its fencing token), and how
-- it ended (who, why). A set's or pool ticket's events name all its resources and its pool;
-- while a pool ticket waits it has no resources, and its pool's name stands for the resource
-- (so its queued event always does). A deleted pool's tickets keep its names.
CREATE OR REPLACE FUNCTION mutex_ticket_events(t tickets) RETURNS SETOF lock_events
LANGUAGE plpgsql STABLE AS $$
DECLARE
  n record := mutex_ticket_names(t);
  v_set boolean := mutex_ticket_is_set(t);
  v_pool text := CASE WHEN v_set THEN n.pool END;
  v_resources text[] := CASE WHEN v_set THEN nullif(n.resources, '{}') END;
  v_named text[] := CASE WHEN n.pool IS NULL THEN v_resources END; -- what it asked for by name
  v_resource text := coalesce(v_resources[1], n.pool, n.resources[1]);
BEGIN
  IF t.queued_event IS NOT NULL THEN
    RETURN NEXT ROW(t.queued_event, t.lock_id, n.repository, coalesce(v_named[1], n.pool, n.resources[1]), t.id, 'queued',
                    t.requester_id, t.requester_name, NULL, t.reason, t.created_at, v_named, v_pool)::lock_events;
  END IF;
  IF t.granted_event IS NOT NULL THEN
    RETURN NEXT ROW(t.granted_event, t.lock_id, n.repository, v_resource, t.id, 'granted', t.requester_id, t.requester_name,
                    t.fencing_token, t.reason, t.lease_start, v_resources, v_pool)::lock_events;
  END IF;
  IF t.ended_event IS NOT NULL THEN
    RETURN NEXT ROW(t.ended_event, t.lock_id, n.repository, v_resource, t.id, t.release_reason::text::lock_event_type,
                    t.released_by_id, t.released_by, t.fencing_token, t.release_note, t.released_at, v_resources, v_pool)::lock_events;
  END IF;
END $$;


-- The whole audit trail, oldest first: every retained ticket's events and every lock_events row
-- (for tests and for reading by hand; the admin endpoint pages with mutex_audit_page).
CREATE OR REPLACE FUNCTION mutex_audit_trail() RETURNS SETOF lock_events
LANGUAGE sql STABLE AS $$
  SELECT * FROM (
    SELECT e.* FROM tickets t, mutex_ticket_events(t) e
    UNION ALL
    SELECT * FROM lock_events
  ) trail ORDER BY id
$$;
