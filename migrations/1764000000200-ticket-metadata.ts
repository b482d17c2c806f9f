import { MigrationInterface, QueryRunner } from 'typeorm';

/** Where a ticket came from (a CI run's URL, commit, ref, job): string pairs, shown wherever the ticket is. */
export class TicketMetadata1764000000200 implements MigrationInterface {
  name = 'TicketMetadata1764000000200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tickets ADD COLUMN metadata jsonb NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE tickets DROP COLUMN metadata`);
  }
}
