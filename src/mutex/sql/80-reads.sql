-- Reads for lists and views. They change nothing: callers settle first (mutex_settle_lock).


-- A lock's (or, with p_pool_id, a pool's) chain of ended tickets, newest end first: its head, and
-- the ticket that ended there before t. A set's ticket, or a pool ticket's member, keeps its
-- place in each lock's chain in ticket_locks; any other ticket in `tickets.previous_ended` (its
-- lock's chain, or its pool's).
CREATE OR REPLACE FUNCTION mutex_last_ended(p_lock_id bigint, p_pool_id bigint) RETURNS uuid
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN p_pool_id IS NOT NULL THEN (SELECT last_ended FROM pools WHERE id = p_pool_id)
              ELSE (SELECT last_ended FROM locks WHERE id = p_lock_id) END
$$;

CREATE OR REPLACE FUNCTION mutex_ended_before(t tickets, p_lock_id bigint, p_pool_id bigint) RETURNS uuid
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN p_pool_id IS NOT NULL THEN t.previous_ended
              ELSE (SELECT previous FROM (
                      SELECT x.previous_ended AS previous FROM ticket_locks x WHERE x.ticket_id = t.id AND x.lock_id = p_lock_id
                      UNION ALL SELECT t.previous_ended) p LIMIT 1) END
$$;


-- The tickets that ended on a lock (or, with p_pool_id, a pool), the last to end first, while
-- released after p_since, at most p_limit: a walk down its chain, one primary-key read a step. A
-- purged ticket ends the walk.
CREATE OR REPLACE FUNCTION mutex_ended_on(p_lock_id bigint, p_pool_id bigint, p_since timestamptz, p_limit integer)
RETURNS SETOF tickets
LANGUAGE plpgsql STABLE AS $$
DECLARE
  t tickets;
  v_id uuid := mutex_last_ended(p_lock_id, p_pool_id);
  v_n integer := 0;
BEGIN
  WHILE v_id IS NOT NULL AND v_n < p_limit LOOP
    SELECT * INTO t FROM tickets WHERE id = v_id;
    EXIT WHEN NOT FOUND OR t.released_at <= p_since;
    RETURN NEXT t;
    v_n := v_n + 1;
    v_id := mutex_ended_before(t, p_lock_id, p_pool_id);
  END LOOP;
END $$;


-- The tickets of a lock, or of a pool: the holder(s) first, then the queue in order, then
-- tickets released within p_retention_seconds, newest first (the later queued first among
-- equals). A lock's tickets are those that name it (alone or in a set) and a pool ticket holding
-- it; a pool's, the tickets asking for its members.
CREATE OR REPLACE FUNCTION mutex_list(
  p_repository text, p_resource text, p_retention_seconds integer, p_limit integer, p_now timestamptz DEFAULT NULL
) RETURNS SETOF jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_lock_id bigint := (SELECT id FROM locks WHERE repository = p_repository AND resource = p_resource);
  v_pool_id bigint := (SELECT id FROM pools WHERE repository = p_repository AND name = p_resource);
  v_since timestamptz := coalesce(p_now, clock_timestamp()) - make_interval(secs => p_retention_seconds);
BEGIN
  RETURN QUERY
  WITH live AS (
    SELECT l.holder_id AS id FROM locks l WHERE l.id = v_lock_id AND l.holder_id IS NOT NULL
    UNION SELECT t.id FROM tickets t WHERE t.lock_id = v_lock_id AND t.status = 'queued'
    UNION SELECT x.ticket_id FROM ticket_locks x JOIN tickets t ON t.id = x.ticket_id WHERE x.lock_id = v_lock_id AND t.status = 'queued'
    UNION SELECT t.id FROM tickets t WHERE t.pool_id = v_pool_id AND t.status = 'queued'
    UNION SELECT t.id FROM tickets t WHERE t.pool_id = v_pool_id AND t.status = 'acquired'
  ), listed AS (
    SELECT t.* FROM live JOIN tickets t ON t.id = live.id
    UNION ALL SELECT * FROM mutex_ended_on(v_lock_id, NULL, v_since, p_limit) WHERE v_lock_id IS NOT NULL
    UNION ALL SELECT * FROM mutex_ended_on(NULL, v_pool_id, v_since, p_limit) WHERE v_pool_id IS NOT NULL
  )
  SELECT mutex_ticket_json(t, (SELECT l FROM locks l WHERE l.id = t.lock_id)) FROM listed t
   ORDER BY CASE t.status WHEN 'acquired' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END,
            CASE WHEN t.status <> 'released' THEN t.seq END ASC,
            t.released_at DESC, t.seq DESC
   LIMIT p_limit;
END $$;


-- A pool as its owners see it: its members in order, each with its holder (NULL when free), and
-- its queue (the pool's waiting tickets, in order). NULL when there is no such pool.
CREATE OR REPLACE FUNCTION mutex_pool_view(p_repository text, p_name text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'repository', p.repository, 'name', p.name, 'description', p.description,
    'created_at', p.created_at, 'updated_at', p.updated_at,
    'members', coalesce((
      SELECT jsonb_agg(jsonb_build_object('resource', l.resource, 'fence', l.fence,
               'holder', CASE WHEN h.id IS NULL THEN NULL ELSE mutex_ticket_json(h, l) END) ORDER BY m.position)
        FROM pool_members m JOIN locks l ON l.id = m.lock_id LEFT JOIN tickets h ON h.id = l.holder_id
       WHERE m.pool_id = p.id), '[]'),
    'queue', coalesce((
      SELECT jsonb_agg(mutex_ticket_json(t, NULL) ORDER BY t.seq)
        FROM tickets t WHERE t.pool_id = p.id AND t.status = 'queued'), '[]'))
  FROM pools p WHERE p.repository = p_repository AND p.name = p_name
$$;


-- The pools of a repository, by name.
CREATE OR REPLACE FUNCTION mutex_pools_of(p_repository text) RETURNS SETOF jsonb
LANGUAGE sql STABLE AS $$
  SELECT mutex_pool_view(p.repository, p.name) FROM pools p WHERE p.repository = p_repository ORDER BY p.name
$$;


-- The waiters that can use a lock, in the global order: the tickets naming it (alone or in a
-- set) and the waiting tickets of the pools it belongs to. The same tickets mutex_queue_position
-- counts ahead of a waiter for this lock (mutex_waiters_of takes every pool of the repository,
-- as a settle must; this is the lock's own queue, for the owner's views).
CREATE OR REPLACE FUNCTION mutex_lock_waiters(p_lock_id bigint, p_limit integer) RETURNS SETOF tickets
LANGUAGE plpgsql STABLE AS $$
BEGIN
  -- Nothing couples the lock: no set names it and no pool has it, so its waiters are the tickets
  -- for it alone, read in order from the tickets_queue index however deep the queue is.
  IF NOT EXISTS (SELECT 1 FROM locks WHERE id = p_lock_id AND coupled > 0) THEN
    RETURN QUERY SELECT * FROM tickets WHERE lock_id = p_lock_id AND status = 'queued' ORDER BY seq LIMIT p_limit;
    RETURN;
  END IF;
  RETURN QUERY
    SELECT t.* FROM tickets t
     WHERE t.status = 'queued'
       AND t.id IN (SELECT w.id FROM tickets w WHERE w.lock_id = p_lock_id AND w.status = 'queued'
                    UNION
                    SELECT x.ticket_id FROM ticket_locks x WHERE x.lock_id = p_lock_id
                    UNION
                    SELECT w.id FROM pool_members m JOIN tickets w ON w.pool_id = m.pool_id AND w.status = 'queued'
                     WHERE m.lock_id = p_lock_id)
     ORDER BY t.seq
     LIMIT p_limit;
END $$;
