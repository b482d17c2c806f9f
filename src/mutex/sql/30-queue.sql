-- Queueing a ticket: granted at once when the lock is free and nobody waits, else queued at the
-- back (strict FIFO). A try-lock (Dapr, synchronize) succeeds only on such a free lock and never
-- leaves a ticket behind.


-- The new ticket row, with its lock's next ordinal: granted (fence + 1, a lease from p_now) on a
-- free lock, else queued (with its wait limit, if any). A wait limit never applies to a ticket
-- that did not wait.
CREATE OR REPLACE FUNCTION mutex_insert_ticket(
  l locks, p_granted boolean, p_ticket_id uuid, p_requester_id uuid, p_requester_name text, p_owner text,
  p_source text, p_reason text, p_metadata jsonb, p_lease_seconds integer, p_wait_seconds integer,
  p_idempotency_key text, p_now timestamptz
) RETURNS tickets
LANGUAGE plpgsql AS $$
DECLARE
  t tickets;
BEGIN
  INSERT INTO tickets (id, lock_id, ordinal, status, requester_id, requester_name, owner, source, reason, metadata,
         lease_duration_seconds, wait_deadline, idempotency_key, lease_start, lease_expires_at,
         fencing_token, created_at, updated_at)
  VALUES (p_ticket_id, l.id, l.enqueued + 1, CASE WHEN p_granted THEN 'acquired' ELSE 'queued' END::ticket_status,
         p_requester_id, p_requester_name, p_owner, p_source, p_reason, p_metadata, p_lease_seconds,
         CASE WHEN NOT p_granted THEN p_now + make_interval(secs => p_wait_seconds) END,
         p_idempotency_key,
         CASE WHEN p_granted THEN p_now END,
         CASE WHEN p_granted THEN p_now + make_interval(secs => p_lease_seconds) END,
         CASE WHEN p_granted THEN l.fence + 1 END,
         p_now, p_now)
  RETURNING * INTO t;
  RETURN t;
END $$;


-- Queues a ticket on (p_repository, p_resource), creating the lock on first use.
-- p_try: a try-lock. p_idempotency_key: a retried request finds the ticket of its first try.
-- p_metadata: string pairs saying where the ticket came from (a CI run), or NULL.
-- outcome: ok | busy (try-lock on a held or queued lock) | replayed | idempotency_mismatch
CREATE OR REPLACE FUNCTION mutex_queue_ticket(
  p_repository text, p_resource text, p_ticket_id uuid, p_requester_id uuid, p_requester_name text,
  p_owner text, p_source text, p_reason text, p_lease_seconds integer, p_wait_seconds integer,
  p_idempotency_key text, p_try boolean, p_metadata jsonb DEFAULT NULL, p_now timestamptz DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  l locks;
  t tickets;
  v_now timestamptz;
  v_settled jsonb := '{"granted": [], "ended": []}';
  v_free boolean;
BEGIN
  SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO locks (repository, resource, created_at, updated_at)
    VALUES (p_repository, p_resource, coalesce(p_now, clock_timestamp()), coalesce(p_now, clock_timestamp()))
    ON CONFLICT DO NOTHING;
    SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource FOR UPDATE;
  END IF;
  v_now := coalesce(p_now, clock_timestamp());

  IF p_idempotency_key IS NOT NULL THEN
    SELECT * INTO t FROM tickets WHERE requester_id = p_requester_id AND idempotency_key = p_idempotency_key;
    IF FOUND THEN
      IF t.lock_id <> l.id THEN RETURN v_settled || '{"outcome": "idempotency_mismatch"}'; END IF;
      IF mutex_lock_due(l, v_now) THEN
        v_settled := mutex_settle(l.id, v_now);
        SELECT * INTO l FROM locks WHERE id = l.id;
        SELECT * INTO t FROM tickets WHERE id = t.id;
      END IF;
      RETURN v_settled || jsonb_build_object('outcome', 'replayed', 'ticket', mutex_ticket_json(t, l));
    END IF;
  END IF;

  IF mutex_lock_due(l, v_now) THEN
    v_settled := mutex_settle(l.id, v_now);
    SELECT * INTO l FROM locks WHERE id = l.id;
  END IF;
  v_free := l.holder_id IS NULL AND l.queue_length = 0;
  IF p_try AND NOT v_free THEN RETURN v_settled || '{"outcome": "busy"}'; END IF;

  IF p_idempotency_key IS NULL THEN
    t := mutex_insert_ticket(l, v_free, p_ticket_id, p_requester_id, p_requester_name, p_owner, p_source, p_reason,
                             p_metadata, p_lease_seconds, p_wait_seconds, NULL, v_now);
  ELSE
    BEGIN -- a subtransaction only when a key can collide (the same key, sent twice at once)
      t := mutex_insert_ticket(l, v_free, p_ticket_id, p_requester_id, p_requester_name, p_owner, p_source, p_reason,
                               p_metadata, p_lease_seconds, p_wait_seconds, p_idempotency_key, v_now);
    EXCEPTION WHEN unique_violation THEN
      RETURN v_settled || '{"outcome": "idempotency_mismatch"}';
    END;
  END IF;

  IF v_free THEN
    UPDATE locks SET fence = t.fencing_token, holder_id = t.id, holder_expires_at = t.lease_expires_at,
           enqueued = t.ordinal, passed = t.ordinal, updated_at = v_now
     WHERE id = l.id RETURNING * INTO l;
    PERFORM mutex_audit(l, t, 'queued', p_requester_id, p_requester_name, p_reason, v_now);
    PERFORM mutex_audit(l, t, 'granted', p_requester_id, p_requester_name, p_reason, v_now);
  ELSE
    UPDATE locks SET queue_length = queue_length + 1, enqueued = t.ordinal, updated_at = v_now
     WHERE id = l.id RETURNING * INTO l;
    PERFORM mutex_audit(l, t, 'queued', p_requester_id, p_requester_name, p_reason, v_now);
  END IF;
  RETURN v_settled || jsonb_build_object('outcome', 'ok', 'ticket', mutex_ticket_json(t, l));
END $$;
