-- PostgreSQL alone, no Node: the uncontended cycle as two autocommitted calls (what the service
-- sends per queue + release). Against a database the service has migrated (e.g. a bench database
-- kept alive, or one created by starting the service once):
--   pgbench -h 127.0.0.1 -U postgres -n -M prepared -c 16 -j 2 -T 8 -f bench/pg-cycle.pgbench.sql <db>
-- tps = cycles/s. Each client uses its own lock.
\set r :client_id
SELECT (mutex_queue_ticket('bench/pg', 'res-' || :r, gen_random_uuid(), '00000000-0000-4000-8000-000000000000', 'owner', NULL, 'sfp', NULL, 60, NULL, NULL, false)->'ticket'->>'id') AS tid \gset
SELECT mutex_release_ticket(:tid::uuid, 'bench/pg', 'res-' || :r, '00000000-0000-4000-8000-000000000000', 'owner');
