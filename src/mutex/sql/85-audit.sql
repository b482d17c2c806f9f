-- The audit trail, page by page, newest first: every retained ticket's events (mutex_ticket_events)
-- and every lock_events row (renewals; the events of tickets from before tickets held their
-- events). Event ids come from one sequence, so "newest first" is id order and a page's last id is
-- the cursor of the next. No index orders the tickets by their events (each would cost every lock
-- cycle a WAL record): a page walks the locks' and pools' chains of ended tickets (mutex_ended_on).


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
-- a purged ticket.
CREATE OR REPLACE FUNCTION mutex_audit_source(
  p_lock_id bigint, p_pool_id bigint, p_filter jsonb, p_before bigint, p_limit integer, p_floor bigint
) RETURNS lock_events[]
LANGUAGE plpgsql STABLE AS $$
DECLARE
  t tickets;
  v_events lock_events[] := '{}';
  v_next uuid := mutex_last_ended(p_lock_id, p_pool_id);
  v_end bigint;
  v_from timestamptz := (p_filter->>'from')::timestamptz;
BEGIN
  FOR t IN
    SELECT * FROM tickets WHERE id IN (
      SELECT holder_id FROM locks WHERE id = p_lock_id
      UNION SELECT id FROM tickets WHERE lock_id = p_lock_id AND status = 'queued'
      UNION SELECT x.ticket_id FROM ticket_locks x JOIN tickets w ON w.id = x.ticket_id WHERE x.lock_id = p_lock_id AND w.status = 'queued'
      UNION SELECT id FROM tickets WHERE pool_id = p_pool_id AND status IN ('queued', 'acquired'))
  LOOP
    v_events := v_events || mutex_audit_of(t, p_filter, p_before);
  END LOOP;
  WHILE v_next IS NOT NULL LOOP
    SELECT * INTO t FROM tickets WHERE id = v_next;
    IF NOT FOUND THEN
      -- Purged: older tickets are too, but for waiters that left and are kept until their queue
      -- passes them (tickets_holes; a set's other locks through ticket_locks).
      FOR t IN
        SELECT * FROM tickets w WHERE w.status = 'released' AND w.lease_start IS NULL AND w.id IN (
          SELECT h.id FROM tickets h WHERE h.lock_id = p_lock_id AND h.status = 'released' AND h.lease_start IS NULL
          UNION SELECT x.ticket_id FROM ticket_locks x WHERE x.lock_id = p_lock_id)
      LOOP
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
  RETURN v_events;
END $$;


-- One page (at most p_limit events before the id p_before, newest first) of the events passing
-- p_filter (see mutex_audit_matches). The sources that may hold such events (every lock and pool,
-- or those the filter names) are read in the order of their latest event (`last_event`) until
-- none can hold an event newer than the page's last; then the rows of lock_events that stand
-- alone (tickets from before tickets held their events, a deleted pool's tickets that never got
-- a member). A lock's page reads one lock; the newest page of all reads every lock's row once.
CREATE OR REPLACE FUNCTION mutex_audit_page(p_filter jsonb, p_before bigint, p_limit integer) RETURNS SETOF lock_events
LANGUAGE plpgsql STABLE AS $$
DECLARE
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
    v_events := v_events || mutex_audit_source(s.lock_id, s.pool_id, p_filter, p_before, p_limit, v_floor);
    v_floor := coalesce((SELECT DISTINCT e.id FROM unnest(v_events) e ORDER BY e.id DESC OFFSET p_limit - 1 LIMIT 1), 0);
  END LOOP;
  v_events := v_events || array(
    SELECT e FROM lock_events e
     WHERE e.type <> 'renewed' AND e.id < coalesce(p_before, 9223372036854775807) AND mutex_audit_matches(e, p_filter)
     ORDER BY e.id DESC LIMIT p_limit);
  RETURN QUERY SELECT DISTINCT ON (e.id) e.* FROM unnest(v_events) e ORDER BY e.id DESC LIMIT p_limit;
END $$;
