-- The audit trail, page by page, newest first: every retained ticket's events (mutex_ticket_events)
-- and every lock_events row (renewals; the events of tickets from before tickets held their
-- events). Event ids come from one sequence, so "newest first" is id order and a page's last id is
-- the cursor of the next. No index orders the tickets by their events (each would cost every lock
-- cycle a WAL record): a page walks the locks' and pools' chains of ended tickets (mutex_ended_on).
-- A filter that few events pass would walk every retained ticket that way (a row lookup and a
-- function call each); past a budget of tickets walked, the page is read by one scan of the
-- tickets instead (mutex_audit_scan).


-- Does the event pass the filter? p_filter's fields, each optional: repository, resource (the
-- event names it: its resource, or one of a set's or pool ticket's resources), pool,
-- repositoryLike (LIKE patterns, any of them), actorId, actorName, types, from, to.
CREATE OR REPLACE FUNCTION mutex_audit_matches(e lock_events, p_filter jsonb) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT (NOT p_filter ? 'repository' OR e.repository = p_filter->>'repository')
     AND (NOT p_filter ? 'resource' OR e.resource = p_filter->>'resource' OR e.resources @> ARRAY[p_filter->>'resource'])
     AND (NOT p_filter ? 'pool' OR e.pool = p_filter->>'pool')
     AND (NOT p_filter ? 'repositoryLike' OR e.repository LIKE ANY (array(SELECT jsonb_array_elements_text(p_filter->'repositoryLike'))))
     AND (NOT p_filter ? 'actorId' OR e.actor_id = (p_filter->>'actorId')::uuid)
     AND (NOT p_filter ? 'actorName' OR e.actor_name = p_filter->>'actorName')
     AND (NOT p_filter ? 'types' OR e.type::text = ANY (array(SELECT jsonb_array_elements_text(p_filter->'types'))))
     AND (NOT p_filter ? 'from' OR e.at >= (p_filter->>'from')::timestamptz)
     AND (NOT p_filter ? 'to' OR e.at < (p_filter->>'to')::timestamptz)
$$;


-- The events of ticket t (and its renewals) that pass the filter and come before p_before.
CREATE OR REPLACE FUNCTION mutex_audit_of(t tickets, p_filter jsonb, p_before bigint) RETURNS lock_events[]
LANGUAGE sql STABLE AS $$
  SELECT coalesce(array_agg(e::lock_events), '{}') FROM (
    SELECT * FROM mutex_ticket_events(t)
    UNION ALL
    -- (OFFSET 0 keeps the conditions below out, so the ticket's index finds its rows, not the ids')
    SELECT * FROM (SELECT * FROM lock_events r WHERE r.ticket_id = t.id OFFSET 0) r
  ) e WHERE e.id < coalesce(p_before, 9223372036854775807) AND mutex_audit_matches(e, p_filter)
$$;


-- The events of a source's tickets (a lock's, or with p_pool_id a pool's) that pass the filter
-- and come before p_before: its live tickets' (holder, waiters), then its ended tickets', newest
-- end first, while an event may still be among the p_limit newest. Every event of a ticket comes
-- before its end, so the walk stops at a ticket that ended before p_floor (the p_limit-th newest
-- event found elsewhere) or below p_limit events found here, or (with a `from`) before it, or at
-- a purged ticket. It gives up (events NULL) once it has read more than p_budget tickets;
-- `visited` is how many it read.
CREATE OR REPLACE FUNCTION mutex_audit_source(
  p_lock_id bigint, p_pool_id bigint, p_filter jsonb, p_before bigint, p_limit integer, p_floor bigint, p_budget integer,
  OUT events lock_events[], OUT visited integer
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
  t tickets;
  v_events lock_events[] := '{}';
  v_next uuid := mutex_last_ended(p_lock_id, p_pool_id);
  v_end bigint;
  v_from timestamptz := (p_filter->>'from')::timestamptz;
BEGIN
  visited := 0;
  FOR t IN
    SELECT * FROM tickets WHERE id IN (
      SELECT holder_id FROM locks WHERE id = p_lock_id
      UNION SELECT id FROM tickets WHERE lock_id = p_lock_id AND status = 'queued'
      UNION SELECT x.ticket_id FROM ticket_locks x JOIN tickets w ON w.id = x.ticket_id WHERE x.lock_id = p_lock_id AND w.status = 'queued'
      UNION SELECT id FROM tickets WHERE pool_id = p_pool_id AND status IN ('queued', 'acquired'))
  LOOP
    visited := visited + 1;
    IF visited > p_budget THEN RETURN; END IF;
    v_events := v_events || mutex_audit_of(t, p_filter, p_before);
  END LOOP;
  WHILE v_next IS NOT NULL LOOP
    visited := visited + 1;
    IF visited > p_budget THEN RETURN; END IF;
    SELECT * INTO t FROM tickets WHERE id = v_next;
    IF NOT FOUND THEN
      -- Purged: older tickets are too, but for waiters that left and are kept until their queue
      -- passes them (tickets_holes; a set's other locks through ticket_locks).
      FOR t IN
        SELECT * FROM tickets w WHERE w.status = 'released' AND w.lease_start IS NULL AND w.id IN (
          SELECT h.id FROM tickets h WHERE h.lock_id = p_lock_id AND h.status = 'released' AND h.lease_start IS NULL
          UNION SELECT x.ticket_id FROM ticket_locks x WHERE x.lock_id = p_lock_id)
      LOOP
        visited := visited + 1;
        IF visited > p_budget THEN RETURN; END IF;
        v_events := v_events || mutex_audit_of(t, p_filter, p_before);
      END LOOP;
      EXIT;
    END IF;
    -- (a ticket from before tickets held their events has its end in lock_events)
    -- (OFFSET 0: through the ticket's index; a max() would read the id index down from the top)
    v_end := coalesce(t.ended_event, (SELECT max(x.id) FROM (SELECT id FROM lock_events WHERE ticket_id = t.id OFFSET 0) x), 0);
    EXIT WHEN v_end < p_floor OR t.released_at < v_from
           OR (SELECT count(*) FROM unnest(v_events) e WHERE e.id > v_end) >= p_limit;
    v_events := v_events || mutex_audit_of(t, p_filter, p_before);
    v_next := mutex_ended_before(t, p_lock_id, p_pool_id);
  END LOOP;
  events := v_events;
END $$;


-- The same page as mutex_audit_page, by one pass over the tickets: those whose columns can give a
-- passing event (its actor, type, time window, lock), newest latest event first, until the page is
-- full and the next ticket's latest event is older than its last; then renewals and the rows of
-- lock_events that stand alone. Costs a scan of the table, whatever the filter: for filters that
-- few events pass, where walking the chains would read every retained ticket one at a time.
CREATE OR REPLACE FUNCTION mutex_audit_scan(p_filter jsonb, p_before bigint, p_limit integer) RETURNS SETOF lock_events
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_before bigint := coalesce(p_before, 9223372036854775807);
  v_actor_id uuid := (p_filter->>'actorId')::uuid;
  v_actor_name text := p_filter->>'actorName';
  v_types text[] := CASE WHEN p_filter ? 'types' THEN array(SELECT jsonb_array_elements_text(p_filter->'types')) END;
  v_from timestamptz := (p_filter->>'from')::timestamptz;
  v_to timestamptz := (p_filter->>'to')::timestamptz;
  v_like text[] := CASE WHEN p_filter ? 'repositoryLike' THEN array(SELECT jsonb_array_elements_text(p_filter->'repositoryLike')) END;
  -- A one-resource ticket's lock must be one the filter's names allow (sets and pool tickets are checked by their events).
  v_locks bigint[] := CASE WHEN p_filter ?| ARRAY['repository', 'resource', 'pool', 'repositoryLike'] THEN array(
    SELECT l.id FROM locks l
     WHERE l.repository = coalesce(p_filter->>'repository', l.repository) AND l.resource = coalesce(p_filter->>'resource', l.resource)
       AND (v_like IS NULL OR l.repository LIKE ANY (v_like)) AND NOT p_filter ? 'pool') END;
  v_events lock_events[] := '{}';
  v_floor bigint;
  t record;
BEGIN
  FOR t IN
    SELECT x AS ticket, greatest(x.queued_event, x.granted_event, x.ended_event) AS newest FROM tickets x
     WHERE (x.queued_event IS NOT NULL OR x.granted_event IS NOT NULL OR x.ended_event IS NOT NULL)
       AND least(x.queued_event, x.granted_event, x.ended_event) < v_before
       AND (v_actor_id IS NULL OR x.requester_id = v_actor_id OR x.released_by_id = v_actor_id)
       AND (v_actor_name IS NULL OR x.requester_name = v_actor_name OR x.released_by = v_actor_name)
       AND (v_types IS NULL OR (x.queued_event IS NOT NULL AND 'queued' = ANY (v_types))
            OR (x.granted_event IS NOT NULL AND 'granted' = ANY (v_types))
            OR (x.ended_event IS NOT NULL AND x.release_reason::text = ANY (v_types)))
       AND (v_from IS NULL OR greatest(x.created_at, x.lease_start, x.released_at) >= v_from)
       AND (v_to IS NULL OR x.created_at < v_to)
       AND (v_locks IS NULL OR mutex_ticket_is_set(x) OR x.lock_id = ANY (v_locks))
     ORDER BY newest DESC
  LOOP
    EXIT WHEN t.newest < v_floor;
    v_events := v_events || array(SELECT e FROM mutex_ticket_events(t.ticket) e WHERE e.id < v_before AND mutex_audit_matches(e, p_filter));
    IF cardinality(v_events) >= p_limit THEN
      v_events := array(SELECT e FROM unnest(v_events) e ORDER BY e.id DESC LIMIT p_limit);
      v_floor := (v_events[p_limit]).id;
    END IF;
  END LOOP;
  RETURN QUERY SELECT DISTINCT ON (e.id) e.* FROM (
    SELECT * FROM unnest(v_events)
    UNION ALL
    -- (the renewals of a purged ticket went with it, as far as the walk can tell)
    (SELECT r.* FROM lock_events r
      WHERE r.id < v_before AND mutex_audit_matches(r, p_filter)
        AND (r.type <> 'renewed' OR EXISTS (SELECT 1 FROM tickets x WHERE x.id = r.ticket_id))
      ORDER BY r.id DESC LIMIT p_limit)
  ) e ORDER BY e.id DESC LIMIT p_limit;
END $$;


-- One page (at most p_limit events before the id p_before, newest first) of the events passing
-- p_filter (see mutex_audit_matches). The sources that may hold such events (every lock and pool,
-- or those the filter names) are read in the order of their latest event (`last_event`) until
-- none can hold an event newer than the page's last; then the rows of lock_events that stand
-- alone (tickets from before tickets held their events, a deleted pool's tickets that never got
-- a member). A lock's page reads one lock; the newest page of all reads every lock's row once.
-- Past p_walk_budget tickets read, the page is read by mutex_audit_scan instead.
CREATE OR REPLACE FUNCTION mutex_audit_page(p_filter jsonb, p_before bigint, p_limit integer, p_walk_budget integer DEFAULT 400)
RETURNS SETOF lock_events
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_walked record;
  v_budget integer := p_walk_budget;
  v_repository text := p_filter->>'repository';
  v_resource text := p_filter->>'resource';
  v_pool text := p_filter->>'pool';
  v_like text[] := CASE WHEN p_filter ? 'repositoryLike' THEN array(SELECT jsonb_array_elements_text(p_filter->'repositoryLike')) END;
  v_events lock_events[] := '{}';
  v_floor bigint := 0;
  s record;
BEGIN
  FOR s IN
    SELECT l.id AS lock_id, NULL::bigint AS pool_id, l.last_event FROM locks l
     WHERE l.last_event IS NOT NULL
       AND l.repository = coalesce(v_repository, l.repository) AND l.resource = coalesce(v_resource, l.resource)
       AND (v_like IS NULL OR l.repository LIKE ANY (v_like))
    UNION ALL
    SELECT NULL, p.id, p.last_event FROM pools p
     WHERE p.last_event IS NOT NULL
       AND p.repository = coalesce(v_repository, p.repository) AND p.name = coalesce(v_resource, v_pool, p.name)
       AND (v_like IS NULL OR p.repository LIKE ANY (v_like))
    ORDER BY last_event DESC
  LOOP
    EXIT WHEN s.last_event < v_floor;
    v_walked := mutex_audit_source(s.lock_id, s.pool_id, p_filter, p_before, p_limit, v_floor, v_budget);
    IF v_walked.events IS NULL THEN
      RETURN QUERY SELECT * FROM mutex_audit_scan(p_filter, p_before, p_limit);
      RETURN;
    END IF;
    v_budget := v_budget - v_walked.visited;
    v_events := v_events || v_walked.events;
    v_floor := coalesce((SELECT DISTINCT e.id FROM unnest(v_events) e ORDER BY e.id DESC OFFSET p_limit - 1 LIMIT 1), 0);
  END LOOP;
  v_events := v_events || array(
    SELECT e FROM lock_events e
     WHERE e.type <> 'renewed' AND e.id < coalesce(p_before, 9223372036854775807) AND mutex_audit_matches(e, p_filter)
     ORDER BY e.id DESC LIMIT p_limit);
  RETURN QUERY SELECT DISTINCT ON (e.id) e.* FROM unnest(v_events) e ORDER BY e.id DESC LIMIT p_limit;
END $$;
