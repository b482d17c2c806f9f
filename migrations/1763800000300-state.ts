import { MigrationInterface, QueryRunner } from 'typeorm';

/** Dapr state store: one row per (store, key), the value as jsonb. */
export class State1763800000300 implements MigrationInterface {
  name = 'State1763800000300';

  async up(q: QueryRunner): Promise<void> {
    // One global sequence: every write takes a fresh etag, so a deleted-then-recreated key never reuses one.
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
    // The purge job scans only rows that carry a TTL.
    await q.query(`CREATE INDEX state_entries_expires_at ON state_entries (expires_at) WHERE expires_at IS NOT NULL`);
    // EQ filters are also compiled to `value @> {...}`, which this index answers.
    await q.query(`CREATE INDEX state_entries_value ON state_entries USING gin (value jsonb_path_ops)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE state_entries`);
  }
}
