import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The migrations that built this schema before the baseline: a database they migrated already
 * has every table below, so the baseline only takes their place in the `migrations` table.
 */
const PRE_BASELINE = ['Auth1763800000000', 'Mutex1763800000100', 'State1763800000300', 'Admin1763800000400', 'LeanLockPath1763800000500'];

/**
 * The schema as the project's first five migrations left it: users and keys, locks and their
 * tickets, the audit trail, the Dapr state store. Tables, types and indexes only: the functions
 * that run the lock rules are source files under src/mutex/sql, applied at start.
 *
 * Enum types instead of CHECK constraints on the rows every lock cycle writes: PostgreSQL
 * re-parses a CHECK from its stored text on every INSERT or UPDATE, an enum checks as strictly
 * at no cost. The audit's time index is BRIN: the trail is appended in time order.
 */
export class Baseline1764000000000 implements MigrationInterface {
  name = 'Baseline1764000000000';

  async up(q: QueryRunner): Promise<void> {
    const done: { name: string }[] = await q.query(`SELECT name FROM migrations WHERE name = ANY($1)`, [PRE_BASELINE]);
    if (done.length === PRE_BASELINE.length) {
      await q.query(`DELETE FROM migrations WHERE name = ANY($1)`, [PRE_BASELINE]);
      return;
    }
    if (done.length > 0) {
      throw new Error(
        `This database was migrated by an older version up to ${done.map((d) => d.name).join(', ')} only: ` +
          'start that version once to finish its migrations, then this one.',
      );
    }

    // Users and their API keys (stored as hashes only).
    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('owner', 'application', 'member')),
        repositories text[] NULL,
        kind text NOT NULL DEFAULT 'user' CHECK (kind IN ('user', 'anonymous')),
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz NULL
      )`);
    await q.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        key_hash text NOT NULL UNIQUE,
        key_prefix text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NULL,
        revoked_at timestamptz NULL,
        last_used_at timestamptz NULL
      )`);
    await q.query(`CREATE INDEX api_keys_user_id ON api_keys (user_id)`);

    // Locks: one row per (repository, resource), never deleted, so fencing tokens only grow.
    await q.query(`CREATE TYPE ticket_status AS ENUM ('queued', 'acquired', 'released')`);
    await q.query(`CREATE TYPE release_reason AS ENUM ('released', 'expired', 'cleared', 'cancelled', 'timed_out')`);
    await q.query(`CREATE TYPE lock_event_type AS ENUM ('queued', 'granted', 'renewed', 'released', 'expired', 'cleared', 'cancelled', 'timed_out')`);
    await q.query(`CREATE DOMAIN lease_seconds AS integer CHECK (VALUE > 0)`);
    await q.query(`
      CREATE TABLE locks (
        id bigserial PRIMARY KEY,
        repository text NOT NULL,
        resource text NOT NULL,
        -- the latest grant's fencing token
        fence bigint NOT NULL DEFAULT 0,
        holder_id uuid NULL,
        holder_expires_at timestamptz NULL,
        queue_length integer NOT NULL DEFAULT 0,
        -- Queue positions in O(1): every ticket takes the next ordinal; every ordinal up to
        -- 'passed' has left the queue (granted, or removed before the head reached it).
        enqueued bigint NOT NULL DEFAULT 0,
        passed bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT locks_repository_resource UNIQUE (repository, resource)
      )`);

    // Tickets: one request for one lock, queued → acquired → released.
    await q.query(`CREATE SEQUENCE ticket_seq`);
    await q.query(`
      CREATE TABLE tickets (
        id uuid PRIMARY KEY,
        lock_id bigint NOT NULL REFERENCES locks(id),
        -- the global queue order
        seq bigint NOT NULL DEFAULT nextval('ticket_seq'),
        ordinal bigint NOT NULL,
        status ticket_status NOT NULL,
        requester_id uuid NOT NULL,
        requester_name text NOT NULL,
        owner text NULL,
        source text NOT NULL DEFAULT 'sfp',
        reason text NULL,
        lease_duration_seconds lease_seconds NOT NULL,
        wait_deadline timestamptz NULL,
        idempotency_key text NULL,
        lease_start timestamptz NULL,
        lease_expires_at timestamptz NULL,
        fencing_token bigint NULL,
        renewed_at timestamptz NULL,
        release_reason release_reason NULL,
        released_at timestamptz NULL,
        released_by text NULL,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX tickets_queue ON tickets (lock_id, seq) WHERE status = 'queued'`);
    // Leases due, for the sweep: on tickets rather than locks, so lock-row updates stay HOT.
    await q.query(`CREATE INDEX tickets_lease_due ON tickets (lease_expires_at) WHERE status = 'acquired'`);
    await q.query(`CREATE INDEX tickets_wait_due ON tickets (wait_deadline) WHERE status = 'queued' AND wait_deadline IS NOT NULL`);
    await q.query(`CREATE INDEX tickets_lock_wait_due ON tickets (lock_id, wait_deadline) WHERE status = 'queued' AND wait_deadline IS NOT NULL`);
    await q.query(`CREATE INDEX tickets_released ON tickets (lock_id, released_at DESC) WHERE status = 'released'`);
    await q.query(`CREATE INDEX tickets_released_at ON tickets (released_at) WHERE status = 'released'`);
    // Waiters that left the queue without being granted: the only holes a queue position skips.
    await q.query(`CREATE INDEX tickets_holes ON tickets (lock_id, ordinal) WHERE status = 'released' AND lease_start IS NULL`);
    await q.query(`CREATE UNIQUE INDEX tickets_idempotency ON tickets (requester_id, idempotency_key) WHERE idempotency_key IS NOT NULL`);

    // The audit trail: every transition, with who, when and which fencing token.
    await q.query(`
      CREATE TABLE lock_events (
        id bigserial PRIMARY KEY,
        lock_id bigint NOT NULL,
        repository text NOT NULL,
        resource text NOT NULL,
        ticket_id uuid NULL,
        type lock_event_type NOT NULL,
        actor_id uuid NULL,
        actor_name text NULL,
        fencing_token bigint NULL,
        reason text NULL,
        at timestamptz NOT NULL
      )`);
    await q.query(`CREATE INDEX lock_events_lock ON lock_events (lock_id, id DESC)`);
    await q.query(`CREATE INDEX lock_events_at ON lock_events USING brin (at)`);
    await q.query(`CREATE INDEX lock_events_actor ON lock_events (actor_id, id DESC)`);
    await q.query(`CREATE INDEX lock_events_actor_name ON lock_events (actor_name, id DESC)`);

    // Dapr state store: one row per (store, key), the value as jsonb. One global sequence: every
    // write takes a fresh etag, so a deleted-then-recreated key never reuses one.
    await q.query(`CREATE SEQUENCE state_etag_seq AS bigint`);
    await q.query(`
      CREATE TABLE state_entries (
        store text NOT NULL,
        key text NOT NULL,
        value jsonb NOT NULL,
        etag bigint NOT NULL DEFAULT nextval('state_etag_seq'),
        expires_at timestamptz NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (store, key)
      )`);
    await q.query(`ALTER SEQUENCE state_etag_seq OWNED BY state_entries.etag`);
    await q.query(`CREATE INDEX state_entries_expires_at ON state_entries (expires_at) WHERE expires_at IS NOT NULL`);
    // EQ filters of state queries are also compiled to `value @> {...}`, which this index answers.
    await q.query(`CREATE INDEX state_entries_value ON state_entries USING gin (value jsonb_path_ops)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE state_entries, lock_events, tickets, locks, api_keys, users`);
    await q.query(`DROP SEQUENCE ticket_seq`);
    await q.query(`DROP DOMAIN lease_seconds`);
    await q.query(`DROP TYPE lock_event_type, release_reason, ticket_status`);
  }
}
