-- Batches: operations that arrive together on an instance share one call and one transaction
-- (one round trip, one WAL flush). See src/database/call-batcher.ts for the caller's side.


-- One answer per operation, in order, as json text (the hot answers are built as text). Each operation is a JSON object naming its fields:
--   {"op": "queue",   "repository", "resource", "ticketId", "requesterId", "requesterName", "owner",
--                     "source", "reason", "metadata", "leaseSeconds", "waitSeconds", "idempotencyKey", "try"}
--   {"op": "release", "repository", "resource", "ticketId", "actorId", "actorName"}
--   {"op": "settle",  "repository", "resource", "ticketId"}   (mutex_settle_ticket: a status read)
-- and may carry "now". Every operation still runs under its own lock's guard. A queue or release
-- tries its lock's guard without waiting (a lock the batch already holds is taken again at no
-- cost); if another transaction holds it, the operation answers {"outcome": "retry"}, as does
-- every later operation of the batch on that lock (so a lock's operations keep their order), and
-- the caller runs them on their own. So does an operation that would wait for a repository's lock
-- (a coupled lock, see 25-coupled.sql). So a batch never waits behind work on one lock while
-- holding others; the rare waits left (a settle on a busy lock, a guard a coupled change holds)
-- are cut short by a lock timeout, and the caller then runs each operation on its own.
CREATE OR REPLACE FUNCTION mutex_batch(p_ops jsonb) RETURNS SETOF json
LANGUAGE plpgsql AS $$
DECLARE
  op jsonb;
  v_kind text;
  v_key bigint;
  v_busy bigint[] := '{}'; -- the guards another transaction holds: every later operation on them retries too, in order
BEGIN
  PERFORM set_config('lock_timeout', '100ms', true);
  FOR op IN SELECT value FROM jsonb_array_elements(p_ops) LOOP
    v_kind := op->>'op';
    IF v_kind = 'queue' OR v_kind = 'release' THEN
      v_key := mutex_lock_key(op->>'repository', op->>'resource');
      IF v_key = ANY (v_busy) OR NOT pg_try_advisory_xact_lock(v_key) THEN -- mutex_try_guard_lock, by key
        v_busy := v_busy || v_key;
        RETURN NEXT '{"outcome": "retry"}'::json;
        CONTINUE;
      END IF;
    END IF;
    CASE v_kind
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
          p_now => (op->>'now')::timestamptz)::json;
      ELSE
        RAISE EXCEPTION 'mutex_batch: unknown operation %', op->>'op' USING ERRCODE = 'invalid_parameter_value';
    END CASE;
  END LOOP;
END $$;
