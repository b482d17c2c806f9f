-- The audit trail, page by page, newest first: every retained ticket's events (mutex_ticket_events)
-- and every lock_events row (renewals; rows of tickets purged before tickets held their events).
-- Event ids come from one sequence, so "newest first" is id order and a page's last id is the
-- cursor of the next.


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
    SELECT * FROM lock_events r WHERE r.ticket_id = t.id
  ) e WHERE e.id < coalesce(p_before, 9223372036854775807) AND mutex_audit_matches(e, p_filter)
$$;


-- One page (at most p_limit events before the id p_before, newest first) of the events passing
-- p_filter (see mutex_audit_matches).
--
-- One lock's or pool's page (repository and resource given) reads only its tickets: the holder
-- and the waiters, then its chain of ended tickets (newest end first, see mutex_ended_on), until
-- the events found above the current ticket's end fill the page, since every event of a ticket
-- comes before its end. Any other page reads event ids downwards in windows that grow fourfold
-- until the page is full (the BRIN index over the tickets' event ids finds each window's tickets).
CREATE OR REPLACE FUNCTION mutex_audit_page(p_filter jsonb, p_before bigint, p_limit integer) RETURNS SETOF lock_events
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_repository text := p_filter->>'repository';
  v_resource text := p_filter->>'resource';
  v_lock_id bigint;
  v_pool_id bigint;
  v_events lock_events[] := '{}';
  t tickets;
  v_next uuid;
  v_hi bigint;
  v_lo bigint;
  v_width bigint := greatest(p_limit * 4, 256);
  v_found integer := 0;
  v_n integer;
BEGIN
  IF v_repository IS NOT NULL AND v_resource IS NOT NULL THEN
    v_lock_id := (SELECT id FROM locks WHERE repository = v_repository AND resource = v_resource);
    v_pool_id := (SELECT id FROM pools WHERE repository = v_repository AND name = v_resource);
    -- Live tickets: the holder, the waiters naming the lock, the pool's waiting and holding tickets.
    FOR t IN
      SELECT * FROM tickets WHERE id IN (
        SELECT holder_id FROM locks WHERE id = v_lock_id
        UNION SELECT id FROM tickets WHERE lock_id = v_lock_id AND status = 'queued'
        UNION SELECT x.ticket_id FROM ticket_locks x JOIN tickets w ON w.id = x.ticket_id WHERE x.lock_id = v_lock_id AND w.status = 'queued'
        UNION SELECT id FROM tickets WHERE pool_id = v_pool_id AND status IN ('queued', 'acquired'))
    LOOP
      v_events := v_events || mutex_audit_of(t, p_filter, p_before);
    END LOOP;
    -- Ended tickets, newest end first, while an event may still make the page.
    v_next := mutex_last_ended(v_lock_id, v_pool_id);
    WHILE v_next IS NOT NULL LOOP
      SELECT * INTO t FROM tickets WHERE id = v_next;
      EXIT WHEN NOT FOUND OR (SELECT count(*) FROM unnest(v_events) e WHERE e.id > t.ended_event) >= p_limit;
      v_events := v_events || mutex_audit_of(t, p_filter, p_before);
      v_next := mutex_ended_before(t, v_lock_id, v_pool_id);
    END LOOP;
    -- Rows of tickets purged before tickets held their events.
    v_events := v_events || array(
      SELECT e FROM lock_events e
       WHERE (e.lock_id = v_lock_id OR (e.repository = v_repository AND e.resources @> ARRAY[v_resource]) OR e.resource = v_resource)
         AND e.id < coalesce(p_before, 9223372036854775807)
         AND NOT EXISTS (SELECT 1 FROM tickets x WHERE x.id = e.ticket_id)
         AND mutex_audit_matches(e, p_filter)
       ORDER BY e.id DESC LIMIT p_limit);
    RETURN QUERY SELECT * FROM unnest(v_events) ORDER BY id DESC LIMIT p_limit;
    RETURN;
  END IF;

  v_hi := coalesce(p_before, (SELECT last_value + 1 FROM lock_events_id_seq));
  LOOP
    v_lo := greatest(v_hi - v_width, 0);
    RETURN QUERY
      SELECT (c.ev).* FROM (
        SELECT ev FROM tickets tk, mutex_ticket_events(tk) ev
         WHERE (tk.queued_event >= v_lo AND tk.queued_event < v_hi OR tk.granted_event >= v_lo AND tk.granted_event < v_hi
                OR tk.ended_event >= v_lo AND tk.ended_event < v_hi)
           AND ev.id >= v_lo AND ev.id < v_hi
        UNION ALL
        SELECT ev FROM lock_events ev WHERE ev.id >= v_lo AND ev.id < v_hi
      ) c
      WHERE mutex_audit_matches(c.ev, p_filter)
      ORDER BY (c.ev).id DESC LIMIT p_limit - v_found;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    v_found := v_found + v_n;
    EXIT WHEN v_found >= p_limit OR v_lo = 0;
    v_hi := v_lo;
    v_width := v_width * 4;
  END LOOP;
END $$;
