-- Queueing a ticket: granted at once when the lock is free and nobody waits, else queued at the
-- back (strict FIFO). A try-lock (Dapr, synchronize) succeeds only on such a free lock and never
-- leaves a ticket behind. A set of resources or a pool ticket queues through mutex_queue_set,
-- as does a ticket for a lock that sets or pools tie to others (25-coupled.sql).


-- The new ticket row, with its queued event (and its granted one when granted at once). A ticket
-- for one lock, or a set, takes its first lock's next ordinal; a pool ticket has no lock yet.
-- Granted (fence + 1, a lease from p_now) on a free lock, else queued with its wait limit, if
-- any: a wait limit never applies to a ticket that did not wait.
CREATE OR REPLACE FUNCTION mutex_insert_ticket(
  l locks, p_granted boolean, p_ticket_id uuid, p_requester_id uuid, p_requester_name text, p_owner text,
  p_source text, p_reason text, p_metadata jsonb, p_lease_seconds integer, p_wait_seconds integer,
  p_idempotency_key text, p_now timestamptz, p_lock_count integer DEFAULT 1, p_pool_id bigint DEFAULT NULL
) RETURNS tickets
LANGUAGE plpgsql AS $$
DECLARE
  t tickets;
  v_queued bigint := mutex_next_event();
  v_granted bigint := CASE WHEN p_granted THEN mutex_next_event() END;
BEGIN
  INSERT INTO tickets (id, lock_id, ordinal, status, requester_id, requester_name, owner, source, reason, metadata,
         lease_duration_seconds, wait_deadline, idempotency_key, lease_start, lease_expires_at,
         fencing_token, lock_count, pool_id, queued_event, granted_event, created_at, updated_at)
  VALUES (p_ticket_id, l.id, l.enqueued + 1, CASE WHEN p_granted THEN 'acquired' ELSE 'queued' END::ticket_status,
         p_requester_id, p_requester_name, p_owner, p_source, p_reason, p_metadata, p_lease_seconds,
         CASE WHEN NOT p_granted THEN p_now + make_interval(secs => p_wait_seconds) END,
         p_idempotency_key,
         CASE WHEN p_granted THEN p_now END,
         CASE WHEN p_granted THEN p_now + make_interval(secs => p_lease_seconds) END,
         CASE WHEN p_granted THEN l.fence + 1 END,
         p_lock_count, p_pool_id, v_queued, v_granted, p_now, p_now)
  RETURNING * INTO t;
  RETURN t;
END $$;


-- Queues a ticket on (p_repository, p_resource), creating the lock on first use.
-- p_try: a try-lock. p_idempotency_key: a retried request finds the ticket of its first try.
-- p_metadata: string pairs saying where the ticket came from (a CI run), or NULL.
-- p_wait: see mutex_lock_repository (25-coupled.sql).
-- outcome: ok | busy (try-lock on a held or queued lock) | replayed | idempotency_mismatch
--          | pool_name (the name is a pool's) | retry. The answer is json text (see mutex_ticket_text).
CREATE OR REPLACE FUNCTION mutex_queue_ticket(
  p_repository text, p_resource text, p_ticket_id uuid, p_requester_id uuid, p_requester_name text,
  p_owner text, p_source text, p_reason text, p_lease_seconds integer, p_wait_seconds integer,
  p_idempotency_key text, p_try boolean, p_metadata jsonb DEFAULT NULL, p_now timestamptz DEFAULT NULL,
  p_wait boolean DEFAULT false
) RETURNS json
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_now timestamptz;
  v_settled jsonb := '{"granted": [], "ended": []}';
  v_free boolean;
  v_repository_locked boolean := CASE WHEN p_wait THEN mutex_lock_repository(p_repository, true) ELSE false END;
BEGIN
  PERFORM mutex_guard_lock(p_repository, p_resource);
  SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource;
  IF NOT FOUND OR l.coupled > 0 THEN
    -- A new lock (its name must not be a pool's), or one tied to others: under the repository's lock.
    IF NOT v_repository_locked AND NOT mutex_lock_repository(p_repository, false) THEN RETURN '{"outcome": "retry"}'; END IF;
    RETURN mutex_queue_set(p_repository, ARRAY[p_resource], NULL, 1, p_ticket_id, p_requester_id, p_requester_name,
                           p_owner, p_source, p_reason, p_metadata, p_lease_seconds, p_wait_seconds, p_idempotency_key,
                           p_try, coalesce(p_now, clock_timestamp()))::json;
  END IF;
  v_now := coalesce(p_now, clock_timestamp());

  IF p_idempotency_key IS NOT NULL THEN
    SELECT * INTO t FROM tickets WHERE requester_id = p_requester_id AND idempotency_key = p_idempotency_key;
    IF FOUND THEN
      IF t.lock_id IS DISTINCT FROM l.id OR mutex_ticket_is_set(t) THEN RETURN (v_settled || '{"outcome": "idempotency_mismatch"}')::json; END IF;
      IF mutex_lock_due(l, v_now) THEN
        v_settled := mutex_settle(l.id, v_now);
        SELECT * INTO l FROM locks WHERE id = l.id;
        SELECT * INTO t FROM tickets WHERE id = t.id;
      END IF;
      RETURN json_build_object('outcome', 'replayed', 'ticket', mutex_ticket_text(t, l),
                               'granted', v_settled->'granted', 'ended', v_settled->'ended');
    END IF;
  END IF;

  IF mutex_lock_due(l, v_now) THEN
    v_settled := mutex_settle(l.id, v_now);
    SELECT * INTO l FROM locks WHERE id = l.id;
  END IF;
  v_free := l.holder_id IS NULL AND l.queue_length = 0;
  IF p_try AND NOT v_free THEN RETURN (v_settled || '{"outcome": "busy"}')::json; END IF;

  IF p_idempotency_key IS NULL THEN
    t := mutex_insert_ticket(l, v_free, p_ticket_id, p_requester_id, p_requester_name, p_owner, p_source, p_reason,
                             p_metadata, p_lease_seconds, p_wait_seconds, NULL, v_now);
  ELSE
    BEGIN -- a subtransaction only when a key can collide (the same key, sent twice at once)
      t := mutex_insert_ticket(l, v_free, p_ticket_id, p_requester_id, p_requester_name, p_owner, p_source, p_reason,
                               p_metadata, p_lease_seconds, p_wait_seconds, p_idempotency_key, v_now);
    EXCEPTION WHEN unique_violation THEN
      RETURN (v_settled || '{"outcome": "idempotency_mismatch"}')::json;
    END;
  END IF;

  IF v_free THEN
    UPDATE locks SET fence = t.fencing_token, holder_id = t.id, holder_expires_at = t.lease_expires_at,
           enqueued = t.ordinal, passed = t.ordinal, last_event = t.granted_event, updated_at = v_now
     WHERE id = l.id RETURNING * INTO l;
  ELSE
    UPDATE locks SET queue_length = queue_length + 1, enqueued = t.ordinal, last_event = t.queued_event, updated_at = v_now
     WHERE id = l.id RETURNING * INTO l;
  END IF;
  RETURN json_build_object('outcome', 'ok', 'ticket', mutex_ticket_text(t, l),
                           'granted', v_settled->'granted', 'ended', v_settled->'ended');
END $$;


-- Queues a ticket for the resources p_resources of p_repository (all or none; one resource is a
-- plain ticket), or for p_count members of the pool p_pool, in the one global order. The caller
-- holds the repository's advisory lock. Every coupled lock of the repository is settled first;
-- then the ticket is granted at once if all it needs is free and wanted by no waiter (the
-- waiters, none of them grantable now, claim every lock they can use), else it queues.
-- outcome: ok | busy | replayed | idempotency_mismatch | pool_name (+ name) | no_such_pool
--          | count_too_large (+ size)
CREATE OR REPLACE FUNCTION mutex_queue_set(
  p_repository text, p_resources text[], p_pool text, p_count integer, p_ticket_id uuid, p_requester_id uuid,
  p_requester_name text, p_owner text, p_source text, p_reason text, p_metadata jsonb, p_lease_seconds integer,
  p_wait_seconds integer, p_idempotency_key text, p_try boolean, p_now timestamptz
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  t tickets;
  l locks;
  v_pool pools;
  v_locks bigint[] := '{}';
  v_name text;
  v_id bigint;
  v_settled jsonb;
  v_claimed bigint[];
  v_grant bigint[];
  v_count integer;
BEGIN
  IF p_idempotency_key IS NOT NULL THEN
    SELECT * INTO t FROM tickets WHERE requester_id = p_requester_id AND idempotency_key = p_idempotency_key;
    IF FOUND THEN
      IF (mutex_ticket_names(t)).repository IS DISTINCT FROM p_repository
         OR (p_pool IS NULL AND (t.pool_id IS NOT NULL OR (mutex_ticket_names(t)).resources IS DISTINCT FROM p_resources))
         OR (p_pool IS NOT NULL AND ((mutex_ticket_names(t)).pool IS DISTINCT FROM p_pool OR t.lock_count <> p_count)) THEN
        RETURN '{"outcome": "idempotency_mismatch", "granted": [], "ended": []}';
      END IF;
      v_settled := mutex_settle_coupled(p_repository, p_now, mutex_ticket_lock_ids(t));
      SELECT * INTO t FROM tickets WHERE id = t.id;
      RETURN (v_settled - 'claimed') || jsonb_build_object('outcome', 'replayed',
        'ticket', mutex_ticket_json(t, (SELECT x FROM locks x WHERE x.id = t.lock_id)));
    END IF;
  END IF;

  IF p_pool IS NOT NULL THEN
    SELECT * INTO v_pool FROM pools WHERE repository = p_repository AND name = p_pool;
    IF NOT FOUND THEN RETURN '{"outcome": "no_such_pool", "granted": [], "ended": []}'; END IF;
    SELECT count(*) INTO v_count FROM pool_members WHERE pool_id = v_pool.id;
    IF p_count > v_count THEN RETURN jsonb_build_object('outcome', 'count_too_large', 'size', v_count, 'granted', '[]'::jsonb, 'ended', '[]'::jsonb); END IF;
  ELSE
    FOREACH v_name IN ARRAY p_resources LOOP
      SELECT id INTO v_id FROM locks WHERE repository = p_repository AND resource = v_name;
      IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM pools WHERE repository = p_repository AND name = v_name) THEN
          RETURN jsonb_build_object('outcome', 'pool_name', 'name', v_name, 'granted', '[]'::jsonb, 'ended', '[]'::jsonb);
        END IF;
        INSERT INTO locks (repository, resource, created_at, updated_at) VALUES (p_repository, v_name, p_now, p_now)
        RETURNING id INTO v_id;
      END IF;
      v_locks := v_locks || v_id;
    END LOOP;
  END IF;

  v_settled := mutex_settle_coupled(p_repository, p_now, v_locks);
  v_claimed := array(SELECT jsonb_array_elements_text(v_settled->'claimed')::bigint);
  IF p_pool IS NOT NULL THEN
    v_grant := (SELECT coalesce(array_agg(id), '{}') FROM (
      SELECT x.id FROM pool_members m JOIN locks x ON x.id = m.lock_id
       WHERE m.pool_id = v_pool.id AND x.holder_id IS NULL AND NOT x.id = ANY (v_claimed)
       ORDER BY coalesce(x.freed_at, x.created_at), x.id LIMIT p_count) picked);
    IF cardinality(v_grant) < p_count THEN v_grant := NULL; END IF;
  ELSIF NOT (v_locks && v_claimed) AND NOT EXISTS (SELECT 1 FROM locks WHERE id = ANY (v_locks) AND holder_id IS NOT NULL) THEN
    v_grant := v_locks;
  END IF;
  IF p_try AND v_grant IS NULL THEN RETURN (v_settled - 'claimed') || '{"outcome": "busy"}'; END IF;

  -- Queued first, then granted if it can be, exactly as a waiter would be.
  SELECT * INTO l FROM locks WHERE id = v_locks[1];
  BEGIN -- a subtransaction only when a key can collide
    t := mutex_insert_ticket(l, false, p_ticket_id, p_requester_id, p_requester_name, p_owner, p_source, p_reason,
                             p_metadata, p_lease_seconds, CASE WHEN v_grant IS NULL THEN p_wait_seconds END,
                             p_idempotency_key, p_now, coalesce(p_count, cardinality(p_resources)), v_pool.id);
  EXCEPTION WHEN unique_violation THEN
    RETURN (v_settled - 'claimed') || '{"outcome": "idempotency_mismatch"}';
  END;
  IF p_pool IS NULL THEN
    UPDATE locks SET enqueued = t.ordinal, updated_at = p_now WHERE id = l.id;
    IF cardinality(v_locks) > 1 THEN
      INSERT INTO ticket_locks (ticket_id, lock_id, position) SELECT t.id, x.id, x.n - 1 FROM unnest(v_locks) WITH ORDINALITY AS x(id, n);
    END IF;
    UPDATE locks SET queue_length = queue_length + 1, coupled = coupled + CASE WHEN cardinality(v_locks) > 1 THEN 1 ELSE 0 END,
           last_event = t.queued_event, updated_at = p_now
     WHERE id = ANY (v_locks);
  ELSE
    UPDATE pools SET last_event = t.queued_event WHERE id = v_pool.id;
  END IF;
  IF v_grant IS NOT NULL THEN t := mutex_grant(t, v_grant, p_now); END IF;
  RETURN (v_settled - 'claimed') || jsonb_build_object('outcome', 'ok',
    'ticket', mutex_ticket_json(t, (SELECT x FROM locks x WHERE x.id = t.lock_id)));
END $$;


-- Queues a ticket for a set of resources (all or none) or for p_count members of a pool: the
-- entry point of mutex_queue_set, which it runs under the repository's lock. Never batched.
CREATE OR REPLACE FUNCTION mutex_queue_many(
  p_repository text, p_resources text[], p_pool text, p_count integer, p_ticket_id uuid, p_requester_id uuid,
  p_requester_name text, p_owner text, p_source text, p_reason text, p_metadata jsonb, p_lease_seconds integer,
  p_wait_seconds integer, p_idempotency_key text, p_try boolean, p_now timestamptz DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM mutex_lock_repository(p_repository, true);
  RETURN mutex_queue_set(p_repository, CASE WHEN p_pool IS NULL THEN p_resources END, p_pool, CASE WHEN p_pool IS NOT NULL THEN p_count END,
                         p_ticket_id, p_requester_id, p_requester_name, p_owner, p_source, p_reason, p_metadata, p_lease_seconds,
                         p_wait_seconds, p_idempotency_key, p_try, coalesce(p_now, clock_timestamp()));
END $$;
