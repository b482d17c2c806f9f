-- Batches: operations that arrive together on an instance share one call and one transaction
-- (one round trip, one WAL flush). See src/mutex/lock-call-batcher.ts for the caller's side.


-- One answer per operation, in order. Each operation is a JSON object naming its fields:
--   {"op": "queue",   "repository", "resource", "ticketId", "requesterId", "requesterName", "owner",
--                     "source", "reason", "metadata", "leaseSeconds", "waitSeconds", "idempotencyKey", "try"}
--   {"op": "release", "repository", "resource", "ticketId", "actorId", "actorName"}
--   {"op": "settle",  "repository", "resource", "ticketId"}   (mutex_settle_ticket: a status read)
-- and may carry "now". Every operation still runs under its own lock's guard. The guards of the
-- locks that queue and release name are taken first, all at once, skipping any that another
-- transaction holds: an operation on such a lock answers {"outcome": "retry"} and the caller runs
-- it on its own. So does an operation that would wait for a repository's lock (a coupled lock,
-- see 25-coupled.sql). So a batch never waits behind work on one lock while holding others; the
-- rare waits left (a settle on a busy lock, a guard a coupled change holds) are cut short by a
-- lock timeout, and the caller then runs each operation on its own.
CREATE OR REPLACE FUNCTION mutex_batch(p_ops jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $$
DECLARE
  op jsonb;
  v_busy text[];
BEGIN
  PERFORM set_config('lock_timeout', '100ms', true);
  SELECT coalesce(array_agg(jsonb_build_array(n.repository, n.resource)::text), '{}') INTO v_busy
    FROM (SELECT DISTINCT o->>'repository' AS repository, o->>'resource' AS resource
            FROM jsonb_array_elements(p_ops) o WHERE o->>'op' IN ('queue', 'release')) n
   WHERE NOT mutex_try_guard_lock(n.repository, n.resource);

  FOR op IN SELECT value FROM jsonb_array_elements(p_ops) LOOP
    IF cardinality(v_busy) > 0 AND op->>'op' IN ('queue', 'release')
       AND jsonb_build_array(op->'repository', op->'resource')::text = ANY (v_busy) THEN
      RETURN NEXT '{"outcome": "retry"}'::jsonb;
      CONTINUE;
    END IF;
    CASE op->>'op'
      WHEN 'queue' THEN
        RETURN NEXT mutex_queue_ticket(
          p_repository => op->>'repository', p_resource => op->>'resource', p_ticket_id => (op->>'ticketId')::uuid,
          p_requester_id => (op->>'requesterId')::uuid, p_requester_name => op->>'requesterName', p_owner => op->>'owner',
          p_source => op->>'source', p_reason => op->>'reason', p_lease_seconds => (op->>'leaseSeconds')::integer,
          p_wait_seconds => (op->>'waitSeconds')::integer, p_idempotency_key => op->>'idempotencyKey',
          p_try => (op->>'try')::boolean, p_metadata => nullif(op->'metadata', 'null'), p_now => (op->>'now')::timestamptz);
      WHEN 'release' THEN
        RETURN NEXT mutex_release_ticket(
          p_ticket_id => (op->>'ticketId')::uuid, p_repository => op->>'repository', p_resource => op->>'resource',
          p_actor_id => (op->>'actorId')::uuid, p_actor_name => op->>'actorName', p_now => (op->>'now')::timestamptz);
      WHEN 'settle' THEN
        RETURN NEXT mutex_settle_ticket(
          p_ticket_id => (op->>'ticketId')::uuid, p_repository => op->>'repository', p_resource => op->>'resource',
          p_now => (op->>'now')::timestamptz);
      ELSE
        RAISE EXCEPTION 'mutex_batch: unknown operation %', op->>'op' USING ERRCODE = 'invalid_parameter_value';
    END CASE;
  END LOOP;
END $$;
