import { MigrationInterface, QueryRunner } from 'typeorm';

/** The ticket indexes whose predicates name a status (a later migration rebuilds them for the enum). */
export const TICKET_STATUS_INDEXES = [
  `CREATE INDEX tickets_queue ON tickets (lock_id, seq) WHERE status = 'queued'`,
  // Leases due, for the sweep. On tickets rather than locks, so lock-row updates stay HOT.
  `CREATE INDEX tickets_lease_due ON tickets (lease_expires_at) WHERE status = 'acquired'`,
  `CREATE INDEX tickets_wait_due ON tickets (wait_deadline) WHERE status = 'queued' AND wait_deadline IS NOT NULL`,
  `CREATE INDEX tickets_lock_wait_due ON tickets (lock_id, wait_deadline) WHERE status = 'queued' AND wait_deadline IS NOT NULL`,
  `CREATE INDEX tickets_released ON tickets (lock_id, released_at DESC) WHERE status = 'released'`,
  `CREATE INDEX tickets_released_at ON tickets (released_at) WHERE status = 'released'`,
  // Waiters that left the queue without being granted: the only holes a position must skip.
  `CREATE INDEX tickets_holes ON tickets (lock_id, ordinal) WHERE status = 'released' AND lease_start IS NULL`,
];

/** First definitions of the functions a later migration replaces (its down() restores these). */
export const MUTEX_SWEEP_V1 = `
      CREATE OR REPLACE FUNCTION mutex_sweep(p_limit integer) RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        v_lock_id bigint;
        v_now timestamptz := clock_timestamp();
        v_settled jsonb;
        v_granted jsonb := '[]';
        v_ended jsonb := '[]';
      BEGIN
        FOR v_lock_id IN
          SELECT id FROM (
            (SELECT lock_id FROM tickets WHERE status = 'acquired' AND lease_expires_at <= v_now ORDER BY lease_expires_at LIMIT p_limit)
            UNION
            (SELECT DISTINCT lock_id FROM tickets WHERE status = 'queued' AND wait_deadline <= v_now LIMIT p_limit)
          ) due LIMIT p_limit
        LOOP
          PERFORM 1 FROM locks WHERE id = v_lock_id FOR UPDATE SKIP LOCKED;
          IF FOUND THEN
            v_settled := mutex_settle(v_lock_id, clock_timestamp());
            v_granted := v_granted || (v_settled->'granted');
            v_ended := v_ended || (v_settled->'ended');
          END IF;
        END LOOP;
        RETURN jsonb_build_object('outcome', 'ok', 'granted', v_granted, 'ended', v_ended);
      END $$`;
export const MUTEX_NEXT_WAIT_DEADLINE_V1 = `
      CREATE OR REPLACE FUNCTION mutex_next_wait_deadline(p_lock_id bigint) RETURNS timestamptz LANGUAGE sql STABLE AS $$
        SELECT min(wait_deadline) FROM tickets WHERE lock_id = p_lock_id AND status = 'queued' AND wait_deadline IS NOT NULL
      $$`;
export const MUTEX_TICKET_JSON_V1 = `
      CREATE OR REPLACE FUNCTION mutex_ticket_json(t tickets, p_repository text, p_resource text, p_position integer)
      RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
        SELECT to_jsonb(t) || jsonb_build_object('repository', p_repository, 'resource', p_resource, 'queue_position', p_position)
      $$`;
export const MUTEX_EVENT_V1 = `
      CREATE OR REPLACE FUNCTION mutex_event(l locks, t tickets, p_type text, p_actor_id uuid, p_actor_name text, p_reason text, p_now timestamptz)
      RETURNS void LANGUAGE sql AS $$
        INSERT INTO lock_events (lock_id, repository, resource, ticket_id, type, actor_id, actor_name, fencing_token, reason, at)
        VALUES (l.id, l.repository, l.resource, t.id, p_type, p_actor_id, p_actor_name, t.fencing_token, p_reason, p_now)
      $$`;
export const MUTEX_POSITION_V1 = `
      CREATE OR REPLACE FUNCTION mutex_position(t tickets) RETURNS integer LANGUAGE sql STABLE AS $$
        SELECT CASE t.status
          WHEN 'acquired' THEN 0
          WHEN 'queued' THEN (
            SELECT (t.ordinal - l.passed - (
                     SELECT count(*) FROM tickets h
                      WHERE h.lock_id = t.lock_id AND h.status = 'released' AND h.lease_start IS NULL
                        AND h.ordinal > l.passed AND h.ordinal < t.ordinal))::integer
              FROM locks l WHERE l.id = t.lock_id)
          ELSE NULL END
      $$`;
export const MUTEX_ENQUEUE_V1 = `
      CREATE OR REPLACE FUNCTION mutex_enqueue(
        p_repository text, p_resource text, p_ticket_id uuid, p_requester_id uuid, p_requester_name text,
        p_owner text, p_source text, p_reason text, p_lease_seconds integer, p_wait_seconds integer,
        p_idempotency_key text, p_try boolean)
      RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        l locks;
        t tickets;
        v_now timestamptz;
        v_settled jsonb := '{"granted": [], "ended": []}';
        v_free boolean;
      BEGIN
        SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource FOR UPDATE;
        IF NOT FOUND THEN
          INSERT INTO locks (repository, resource) VALUES (p_repository, p_resource) ON CONFLICT DO NOTHING;
          SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource FOR UPDATE;
        END IF;
        v_now := clock_timestamp();
        IF p_idempotency_key IS NOT NULL THEN
          SELECT * INTO t FROM tickets WHERE requester_id = p_requester_id AND idempotency_key = p_idempotency_key;
          IF FOUND THEN
            IF t.lock_id <> l.id THEN
              RETURN jsonb_build_object('outcome', 'idempotency_mismatch');
            END IF;
            v_settled := mutex_settle(l.id, v_now);
            SELECT * INTO t FROM tickets WHERE id = t.id;
            RETURN v_settled || jsonb_build_object('outcome', 'replayed',
              'ticket', mutex_ticket_json(t, l.repository, l.resource, mutex_position(t)));
          END IF;
        END IF;
        IF mutex_due(l, v_now) THEN
          v_settled := mutex_settle(l.id, v_now);
          SELECT * INTO l FROM locks WHERE id = l.id;
        END IF;
        v_free := l.holder_id IS NULL AND l.queue_length = 0;
        IF p_try AND NOT v_free THEN
          RETURN v_settled || jsonb_build_object('outcome', 'busy');
        END IF;
        IF p_idempotency_key IS NULL THEN
          t := mutex_new_ticket(l, v_free, p_ticket_id, p_requester_id, p_requester_name, p_owner, p_source, p_reason,
                                p_lease_seconds, p_wait_seconds, NULL, v_now);
        ELSE
          BEGIN -- a subtransaction only when a key can collide
            t := mutex_new_ticket(l, v_free, p_ticket_id, p_requester_id, p_requester_name, p_owner, p_source, p_reason,
                                  p_lease_seconds, p_wait_seconds, p_idempotency_key, v_now);
          EXCEPTION WHEN unique_violation THEN
            RETURN jsonb_build_object('outcome', 'idempotency_mismatch');
          END;
        END IF;
        IF v_free THEN
          UPDATE locks SET fence = t.fencing_token, holder_id = t.id, holder_expires_at = t.lease_expires_at,
                 enqueued = t.ordinal, passed = t.ordinal, updated_at = v_now
          WHERE id = l.id;
          INSERT INTO lock_events (lock_id, repository, resource, ticket_id, type, actor_id, actor_name, fencing_token, reason, at)
          VALUES (l.id, l.repository, l.resource, t.id, 'queued', p_requester_id, p_requester_name, NULL, p_reason, v_now),
                 (l.id, l.repository, l.resource, t.id, 'granted', p_requester_id, p_requester_name, t.fencing_token, p_reason, v_now);
          RETURN v_settled || jsonb_build_object('outcome', 'ok', 'ticket', mutex_ticket_json(t, l.repository, l.resource, 0));
        END IF;
        UPDATE locks SET queue_length = queue_length + 1, enqueued = t.ordinal, updated_at = v_now WHERE id = l.id;
        PERFORM mutex_event(l, t, 'queued', p_requester_id, p_requester_name, p_reason, v_now);
        RETURN v_settled || jsonb_build_object('outcome', 'ok',
          'ticket', mutex_ticket_json(t, l.repository, l.resource, l.queue_length + 1));
      END $$`;
export const MUTEX_RELEASE_V1 = `
      CREATE OR REPLACE FUNCTION mutex_release(p_ticket_id uuid, p_repository text, p_resource text, p_actor_id uuid, p_actor_name text)
      RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        l locks;
        t tickets;
        v_now timestamptz;
        v_settled jsonb := '{"granted": [], "ended": []}';
        v_after jsonb := '{"granted": [], "ended": []}';
      BEGIN
        SELECT * INTO l FROM locks WHERE id = (SELECT lock_id FROM tickets WHERE id = p_ticket_id) FOR UPDATE;
        IF NOT FOUND THEN RETURN jsonb_build_object('outcome', 'not_found'); END IF;
        IF (p_repository IS NOT NULL AND l.repository <> p_repository) OR (p_resource IS NOT NULL AND l.resource <> p_resource) THEN
          RETURN jsonb_build_object('outcome', 'not_found');
        END IF;
        v_now := clock_timestamp();
        IF mutex_due(l, v_now) THEN
          v_settled := mutex_settle(l.id, v_now);
          SELECT * INTO l FROM locks WHERE id = l.id;
        END IF;
        SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
        IF t.status = 'released' THEN
          RETURN v_settled || jsonb_build_object('outcome', 'ended', 'ticket', mutex_ticket_json(t, l.repository, l.resource, NULL));
        END IF;
        IF t.status = 'acquired' THEN
          t := mutex_release_holder(l, t, p_actor_id, p_actor_name, v_now);
        ELSE
          UPDATE tickets SET status = 'released', release_reason = 'cancelled', released_at = v_now,
                 released_by = p_actor_name, updated_at = v_now
          WHERE id = t.id RETURNING * INTO t;
          UPDATE locks SET queue_length = queue_length - 1, updated_at = v_now WHERE id = l.id;
          PERFORM mutex_event(l, t, 'cancelled', p_actor_id, p_actor_name, NULL, v_now);
        END IF;
        IF l.queue_length > 0 THEN -- someone waits: grant the head now
          v_after := mutex_settle(l.id, v_now);
        END IF;
        RETURN jsonb_build_object('outcome', 'ok',
          'ticket', mutex_ticket_json(t, l.repository, l.resource, NULL),
          'granted', (v_settled->'granted') || (v_after->'granted'),
          'ended', (v_settled->'ended') || (v_after->'ended'));
      END $$`;

/**
 * The lock queues. Every change to one lock runs inside one of the functions below, in one
 * transaction that first takes that lock's row lock (`SELECT … FOR UPDATE`), so changes to a
 * lock are linearizable across instances and each request is one round trip. The rules mirror
 * the pure state machine in src/mutex/domain/lock-queue.machine.ts (a model-based test checks
 * that both agree). Time is the database clock, read after the row lock is held.
 */
export class Mutex1763800000100 implements MigrationInterface {
  name = 'Mutex1763800000100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE locks (
        id bigserial PRIMARY KEY,
        repository text NOT NULL,
        resource text NOT NULL,
        fence bigint NOT NULL DEFAULT 0,
        holder_id uuid NULL,
        holder_expires_at timestamptz NULL,
        queue_length integer NOT NULL DEFAULT 0,
        -- Queue positions in O(1): every ticket takes the next ordinal; every ordinal up to
        -- 'passed' has left the queue (it was granted, or removed before the head reached it).
        enqueued bigint NOT NULL DEFAULT 0,
        passed bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT locks_repository_resource UNIQUE (repository, resource)
      )`);
    await q.query(`CREATE SEQUENCE ticket_seq`);
    await q.query(`
      CREATE TABLE tickets (
        id uuid PRIMARY KEY,
        lock_id bigint NOT NULL REFERENCES locks(id),
        seq bigint NOT NULL DEFAULT nextval('ticket_seq'),
        ordinal bigint NOT NULL,
        status text NOT NULL CHECK (status IN ('queued', 'acquired', 'released')),
        requester_id uuid NOT NULL,
        requester_name text NOT NULL,
        owner text NULL,
        source text NOT NULL DEFAULT 'sfp',
        reason text NULL,
        lease_duration_seconds integer NOT NULL CHECK (lease_duration_seconds > 0),
        wait_deadline timestamptz NULL,
        idempotency_key text NULL,
        lease_start timestamptz NULL,
        lease_expires_at timestamptz NULL,
        fencing_token bigint NULL,
        renewed_at timestamptz NULL,
        release_reason text NULL CHECK (release_reason IN ('released', 'expired', 'cleared', 'cancelled', 'timed_out')),
        released_at timestamptz NULL,
        released_by text NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    for (const sql of TICKET_STATUS_INDEXES) await q.query(sql);
    await q.query(`CREATE UNIQUE INDEX tickets_idempotency ON tickets (requester_id, idempotency_key) WHERE idempotency_key IS NOT NULL`);
    await q.query(`
      CREATE TABLE lock_events (
        id bigserial PRIMARY KEY,
        lock_id bigint NOT NULL,
        repository text NOT NULL,
        resource text NOT NULL,
        ticket_id uuid NULL,
        type text NOT NULL CHECK (type IN ('queued', 'granted', 'renewed', 'released', 'expired', 'cleared', 'cancelled', 'timed_out')),
        actor_id uuid NULL,
        actor_name text NULL,
        fencing_token bigint NULL,
        reason text NULL,
        at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX lock_events_lock ON lock_events (lock_id, id DESC)`);
    await q.query(`CREATE INDEX lock_events_at ON lock_events (at DESC)`);
    await q.query(`CREATE INDEX lock_events_actor ON lock_events (actor_id, id DESC)`);

    // The earliest wait limit among a lock's waiters. Asked as min() so the plan is always a
    // one-entry index probe: "wait_deadline <= now" as a cached generic plan scanned every waiter.
    await q.query(MUTEX_NEXT_WAIT_DEADLINE_V1);

    // A ticket as the service reads it.
    await q.query(MUTEX_TICKET_JSON_V1);

    await q.query(MUTEX_EVENT_V1);

    // Brings a lock up to date at p_now: waiters past their wait limit leave, a holder past its
    // lease is expired, and a free lock is granted to the head of its queue. The caller holds
    // the lock's row lock. Returns {granted: [ticket], ended: [ticket]}.
    await q.query(`
      CREATE FUNCTION mutex_settle(p_lock_id bigint, p_now timestamptz)
      RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        l locks;
        t tickets;
        v_granted jsonb := '[]';
        v_ended jsonb := '[]';
        v_changed boolean := false;
      BEGIN
        SELECT * INTO l FROM locks WHERE id = p_lock_id;
        IF l.queue_length > 0 AND mutex_next_wait_deadline(p_lock_id) <= p_now THEN
          FOR t IN
            UPDATE tickets SET status = 'released', release_reason = 'timed_out', released_at = p_now,
                   released_by = 'system', updated_at = p_now
            WHERE lock_id = p_lock_id AND status = 'queued' AND wait_deadline <= p_now
            RETURNING *
          LOOP
            v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, l.repository, l.resource, NULL));
            PERFORM mutex_event(l, t, 'timed_out', NULL, 'system', 'waited longer than its wait limit', p_now);
            l.queue_length := l.queue_length - 1;
            v_changed := true;
          END LOOP;
        END IF;
        IF l.holder_id IS NOT NULL AND l.holder_expires_at <= p_now THEN
          UPDATE tickets SET status = 'released', release_reason = 'expired', released_at = p_now,
                 released_by = 'system', updated_at = p_now
          WHERE id = l.holder_id RETURNING * INTO t;
          v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, l.repository, l.resource, NULL));
          PERFORM mutex_event(l, t, 'expired', NULL, 'system', 'lease ended', p_now);
          l.holder_id := NULL;
          l.holder_expires_at := NULL;
          v_changed := true;
        END IF;
        IF l.holder_id IS NULL AND l.queue_length > 0 THEN
          SELECT * INTO t FROM tickets WHERE lock_id = p_lock_id AND status = 'queued' ORDER BY seq LIMIT 1;
          IF FOUND THEN
            l.fence := l.fence + 1;
            UPDATE tickets SET status = 'acquired', lease_start = p_now,
                   lease_expires_at = p_now + make_interval(secs => lease_duration_seconds),
                   fencing_token = l.fence, updated_at = p_now
            WHERE id = t.id RETURNING * INTO t;
            l.holder_id := t.id;
            l.holder_expires_at := t.lease_expires_at;
            l.queue_length := l.queue_length - 1;
            l.passed := t.ordinal; -- FIFO: everything queued before the head has left
            v_granted := v_granted || jsonb_build_array(mutex_ticket_json(t, l.repository, l.resource, 0));
            PERFORM mutex_event(l, t, 'granted', t.requester_id, t.requester_name, t.reason, p_now);
          ELSE
            l.queue_length := 0; -- the counter drifted; the index is the truth
          END IF;
          v_changed := true;
        END IF;
        IF v_changed THEN
          UPDATE locks SET fence = l.fence, holder_id = l.holder_id, holder_expires_at = l.holder_expires_at,
                 queue_length = l.queue_length, passed = l.passed, updated_at = p_now
          WHERE id = p_lock_id;
        END IF;
        RETURN jsonb_build_object('granted', v_granted, 'ended', v_ended);
      END $$`);

    // Position in the queue (1 = next): the ordinals between the last one passed and this one,
    // less the waiters that left in between. Cost does not grow with the queue's depth.
    await q.query(MUTEX_POSITION_V1);

    // Is anything on this lock due at p_now: an expired holder, a free lock with waiters, a waiter
    // past its wait limit? Operations settle only then, so the common path skips the settle.
    await q.query(`
      CREATE FUNCTION mutex_due(l locks, p_now timestamptz) RETURNS boolean LANGUAGE sql STABLE AS $$
        SELECT (l.holder_id IS NOT NULL AND l.holder_expires_at <= p_now)
            OR (l.holder_id IS NULL AND l.queue_length > 0)
            OR (l.queue_length > 0 AND mutex_next_wait_deadline(l.id) <= p_now)
      $$`);

    // Ends the current holder's ticket as 'released' by an actor; the caller then settles (grants the next).
    await q.query(`
      CREATE FUNCTION mutex_release_holder(l locks, t tickets, p_actor_id uuid, p_actor_name text, p_now timestamptz)
      RETURNS tickets LANGUAGE plpgsql AS $$
      DECLARE r tickets;
      BEGIN
        UPDATE tickets SET status = 'released', release_reason = 'released', released_at = p_now,
               released_by = p_actor_name, updated_at = p_now
        WHERE id = t.id RETURNING * INTO r;
        UPDATE locks SET holder_id = NULL, holder_expires_at = NULL, updated_at = p_now WHERE id = l.id;
        PERFORM mutex_event(l, r, 'released', p_actor_id, p_actor_name, NULL, p_now);
        RETURN r;
      END $$`);

    // A new ticket row with the lock's next ordinal, granted at once when the lock is free
    // (fence + 1), else queued.
    await q.query(`
      CREATE FUNCTION mutex_new_ticket(l locks, p_free boolean, p_ticket_id uuid, p_requester_id uuid, p_requester_name text,
          p_owner text, p_source text, p_reason text, p_lease_seconds integer, p_wait_seconds integer, p_idempotency_key text, p_now timestamptz)
      RETURNS tickets LANGUAGE plpgsql AS $$
      DECLARE t tickets;
      BEGIN
        IF p_free THEN
          INSERT INTO tickets (id, lock_id, ordinal, status, requester_id, requester_name, owner, source, reason,
                 lease_duration_seconds, wait_deadline, idempotency_key, lease_start, lease_expires_at,
                 fencing_token, created_at, updated_at)
          VALUES (p_ticket_id, l.id, l.enqueued + 1, 'acquired', p_requester_id, p_requester_name, p_owner, p_source, p_reason,
                 p_lease_seconds, NULL, p_idempotency_key, p_now, p_now + make_interval(secs => p_lease_seconds),
                 l.fence + 1, p_now, p_now)
          RETURNING * INTO t;
        ELSE
          INSERT INTO tickets (id, lock_id, ordinal, status, requester_id, requester_name, owner, source, reason,
                 lease_duration_seconds, wait_deadline, idempotency_key, created_at, updated_at)
          VALUES (p_ticket_id, l.id, l.enqueued + 1, 'queued', p_requester_id, p_requester_name, p_owner, p_source, p_reason,
                 p_lease_seconds, p_now + make_interval(secs => p_wait_seconds), p_idempotency_key, p_now, p_now)
          RETURNING * INTO t;
        END IF;
        RETURN t;
      END $$`);

    // Queue a ticket (p_try: only if the lock is free with nobody waiting, never leaving a ticket).
    // outcome: ok | busy | replayed | idempotency_mismatch
    await q.query(MUTEX_ENQUEUE_V1);

    // Reads a ticket, settling its lock first when something is due. outcome: ok | not_found
    await q.query(`
      CREATE FUNCTION mutex_status(p_ticket_id uuid, p_repository text, p_resource text)
      RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        l locks;
        t tickets;
        v_now timestamptz := clock_timestamp();
        v_settled jsonb := '{"granted": [], "ended": []}';
      BEGIN
        SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
        IF NOT FOUND THEN RETURN jsonb_build_object('outcome', 'not_found'); END IF;
        SELECT * INTO l FROM locks WHERE id = t.lock_id;
        IF (p_repository IS NOT NULL AND l.repository <> p_repository) OR (p_resource IS NOT NULL AND l.resource <> p_resource) THEN
          RETURN jsonb_build_object('outcome', 'not_found');
        END IF;
        -- Any overdue waiter ahead of this one changes its position, not only its own deadline.
        IF t.status <> 'released' AND (
             (l.holder_id IS NOT NULL AND l.holder_expires_at <= v_now)
          OR (l.holder_id IS NULL AND l.queue_length > 0)
          OR (t.status = 'queued' AND mutex_next_wait_deadline(l.id) <= v_now)) THEN
          SELECT * INTO l FROM locks WHERE id = t.lock_id FOR UPDATE;
          v_now := clock_timestamp();
          v_settled := mutex_settle(l.id, v_now);
          SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
        END IF;
        RETURN v_settled || jsonb_build_object('outcome', 'ok',
          'ticket', mutex_ticket_json(t, l.repository, l.resource, mutex_position(t)));
      END $$`);

    // Releases a ticket: a holder frees the lock (granting the next waiter), a waiter leaves the queue.
    // outcome: ok | not_found | ended (it had already ended; nothing changes)
    await q.query(MUTEX_RELEASE_V1);

    // Extends the holder's lease from now. outcome: ok | not_found | not_holder
    await q.query(`
      CREATE FUNCTION mutex_renew(p_ticket_id uuid, p_repository text, p_resource text, p_lease_seconds integer,
                                  p_actor_id uuid, p_actor_name text)
      RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        l locks;
        t tickets;
        v_lock_id bigint;
        v_now timestamptz;
        v_settled jsonb;
      BEGIN
        SELECT lock_id INTO v_lock_id FROM tickets WHERE id = p_ticket_id;
        IF NOT FOUND THEN RETURN jsonb_build_object('outcome', 'not_found'); END IF;
        SELECT * INTO l FROM locks WHERE id = v_lock_id FOR UPDATE;
        IF (p_repository IS NOT NULL AND l.repository <> p_repository) OR (p_resource IS NOT NULL AND l.resource <> p_resource) THEN
          RETURN jsonb_build_object('outcome', 'not_found');
        END IF;
        v_now := clock_timestamp();
        v_settled := mutex_settle(l.id, v_now);
        SELECT * INTO t FROM tickets WHERE id = p_ticket_id;
        IF t.status <> 'acquired' THEN
          RETURN v_settled || jsonb_build_object('outcome', 'not_holder',
            'ticket', mutex_ticket_json(t, l.repository, l.resource, mutex_position(t)));
        END IF;
        UPDATE tickets SET lease_duration_seconds = COALESCE(p_lease_seconds, lease_duration_seconds),
               lease_expires_at = v_now + make_interval(secs => COALESCE(p_lease_seconds, lease_duration_seconds)),
               renewed_at = v_now, updated_at = v_now
        WHERE id = t.id RETURNING * INTO t;
        UPDATE locks SET holder_expires_at = t.lease_expires_at, updated_at = v_now WHERE id = l.id;
        PERFORM mutex_event(l, t, 'renewed', p_actor_id, p_actor_name, NULL, v_now);
        RETURN v_settled || jsonb_build_object('outcome', 'ok', 'ticket', mutex_ticket_json(t, l.repository, l.resource, 0));
      END $$`);

    // Force clear: the holder and every waiter end with 'cleared'.
    await q.query(`
      CREATE FUNCTION mutex_clear(p_repository text, p_resource text, p_actor_id uuid, p_actor_name text)
      RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        l locks;
        v_now timestamptz;
        v_settled jsonb;
        v_ended jsonb;
      BEGIN
        SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource FOR UPDATE;
        IF NOT FOUND THEN
          RETURN jsonb_build_object('outcome', 'ok', 'granted', '[]'::jsonb, 'ended', '[]'::jsonb);
        END IF;
        v_now := clock_timestamp();
        -- Settle first: a lease already past its end is 'expired', not 'cleared', in the audit.
        v_settled := mutex_settle(l.id, v_now);
        WITH cleared AS (
          UPDATE tickets SET status = 'released', release_reason = 'cleared', released_at = v_now,
                 released_by = p_actor_name, updated_at = v_now
          WHERE lock_id = l.id AND status IN ('queued', 'acquired')
          RETURNING *
        ), logged AS (
          INSERT INTO lock_events (lock_id, repository, resource, ticket_id, type, actor_id, actor_name, fencing_token, reason, at)
          SELECT l.id, l.repository, l.resource, c.id, 'cleared', p_actor_id, p_actor_name, c.fencing_token, 'force clear', v_now
          FROM cleared c
        )
        SELECT COALESCE(jsonb_agg(mutex_ticket_json(c, l.repository, l.resource, NULL) ORDER BY c.seq), '[]'::jsonb)
        INTO v_ended FROM cleared c;
        UPDATE locks SET holder_id = NULL, holder_expires_at = NULL, queue_length = 0, passed = enqueued, updated_at = v_now WHERE id = l.id;
        RETURN jsonb_build_object('outcome', 'ok', 'granted', v_settled->'granted', 'ended', (v_settled->'ended') || v_ended);
      END $$`);

    // Dapr unlock by owner. status: 0 released, 1 no such lock (or nobody holds it), 2 held by another owner.
    await q.query(`
      CREATE FUNCTION mutex_unlock_owner(p_repository text, p_resource text, p_owner text, p_actor_id uuid, p_actor_name text)
      RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE
        l locks;
        t tickets;
        v_now timestamptz;
        v_settled jsonb;
        v_after jsonb;
      BEGIN
        SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource FOR UPDATE;
        IF NOT FOUND THEN RETURN jsonb_build_object('outcome', 'ok', 'status', 1); END IF;
        v_now := clock_timestamp();
        v_settled := mutex_settle(l.id, v_now);
        SELECT * INTO l FROM locks WHERE id = l.id;
        IF l.holder_id IS NULL THEN RETURN v_settled || jsonb_build_object('outcome', 'ok', 'status', 1); END IF;
        SELECT * INTO t FROM tickets WHERE id = l.holder_id;
        IF t.owner IS DISTINCT FROM p_owner THEN RETURN v_settled || jsonb_build_object('outcome', 'ok', 'status', 2); END IF;
        t := mutex_release_holder(l, t, p_actor_id, p_actor_name, v_now);
        v_after := mutex_settle(l.id, v_now);
        RETURN jsonb_build_object('outcome', 'ok', 'status', 0,
          'ticket', mutex_ticket_json(t, l.repository, l.resource, NULL),
          'granted', (v_settled->'granted') || (v_after->'granted'),
          'ended', (v_settled->'ended') || (jsonb_build_array(mutex_ticket_json(t, l.repository, l.resource, NULL))) || (v_after->'ended'));
      END $$`);

    // Settles the lock of one ticket (a BullMQ expiry or wait-timeout job fired).
    await q.query(`
      CREATE FUNCTION mutex_check(p_ticket_id uuid) RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE v_lock_id bigint;
      BEGIN
        SELECT lock_id INTO v_lock_id FROM tickets WHERE id = p_ticket_id;
        IF NOT FOUND THEN RETURN jsonb_build_object('outcome', 'not_found', 'granted', '[]'::jsonb, 'ended', '[]'::jsonb); END IF;
        PERFORM 1 FROM locks WHERE id = v_lock_id FOR UPDATE;
        RETURN mutex_settle(v_lock_id, clock_timestamp()) || jsonb_build_object('outcome', 'ok');
      END $$`);

    // Settles a lock by name when something on it is due (used before reading a lock's list).
    await q.query(`
      CREATE FUNCTION mutex_settle_if_due(p_repository text, p_resource text) RETURNS jsonb LANGUAGE plpgsql AS $$
      DECLARE l locks; v_now timestamptz := clock_timestamp();
      BEGIN
        SELECT * INTO l FROM locks WHERE repository = p_repository AND resource = p_resource;
        IF NOT FOUND THEN RETURN jsonb_build_object('outcome', 'not_found', 'granted', '[]'::jsonb, 'ended', '[]'::jsonb); END IF;
        IF (l.holder_id IS NOT NULL AND l.holder_expires_at <= v_now) OR (l.holder_id IS NULL AND l.queue_length > 0)
           OR mutex_next_wait_deadline(l.id) <= v_now THEN
          PERFORM 1 FROM locks WHERE id = l.id FOR UPDATE;
          RETURN mutex_settle(l.id, clock_timestamp()) || jsonb_build_object('outcome', 'ok');
        END IF;
        RETURN jsonb_build_object('outcome', 'ok', 'granted', '[]'::jsonb, 'ended', '[]'::jsonb);
      END $$`);

    // Reconciliation: settles every lock with something due (a lost Redis job must not keep a lock
    // held). SKIP LOCKED: a lock busy in another transaction gets settled there.
    await q.query(MUTEX_SWEEP_V1);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const fn of [
      'mutex_sweep(integer)',
      'mutex_check(uuid)',
      'mutex_settle_if_due(text, text)',
      'mutex_unlock_owner(text, text, text, uuid, text)',
      'mutex_clear(text, text, uuid, text)',
      'mutex_renew(uuid, text, text, integer, uuid, text)',
      'mutex_release(uuid, text, text, uuid, text)',
      'mutex_status(uuid, text, text)',
      'mutex_enqueue(text, text, uuid, uuid, text, text, text, text, integer, integer, text, boolean)',
      'mutex_release_holder(locks, tickets, uuid, text, timestamptz)',
      'mutex_new_ticket(locks, boolean, uuid, uuid, text, text, text, text, integer, integer, text, timestamptz)',
      'mutex_due(locks, timestamptz)',
      'mutex_position(tickets)',
      'mutex_settle(bigint, timestamptz)',
      'mutex_event(locks, tickets, text, uuid, text, text, timestamptz)',
      'mutex_ticket_json(tickets, text, text, integer)',
      'mutex_next_wait_deadline(bigint)',
    ]) {
      await q.query(`DROP FUNCTION ${fn}`);
    }
    await q.query(`DROP TABLE lock_events`);
    await q.query(`DROP TABLE tickets`);
    await q.query(`DROP SEQUENCE ticket_seq`);
    await q.query(`DROP TABLE locks`);
  }
}
