-- Pools: named sets of resources of a repository; a pool ticket asks for `count` free members.
-- Defining, changing and deleting a pool is a change to coupled locks (25-coupled.sql): it runs
-- under the repository's advisory lock and ends by granting what it made grantable.


-- Creates or replaces the pool p_name of p_repository with the resources p_resources (in that
-- order) and a description. Waiting pool tickets that ask for more members than it now has end
-- 'cancelled'. A pool and a resource may not share a name in a repository.
-- outcome: ok (+ created) | name_is_resource | member_is_pool (+ name)
CREATE OR REPLACE FUNCTION mutex_put_pool(
  p_repository text, p_name text, p_resources text[], p_description text, p_actor_id uuid, p_actor_name text,
  p_now timestamptz DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz;
  v_pool pools;
  v_created boolean;
  v_old bigint[];
  v_new bigint[] := '{}';
  v_name text;
  v_id bigint;
  v_settled jsonb;
  v_ended jsonb := '[]';
  v_after jsonb;
  t tickets;
BEGIN
  PERFORM mutex_lock_repository(p_repository, true);
  v_now := coalesce(p_now, clock_timestamp());
  IF EXISTS (SELECT 1 FROM locks WHERE repository = p_repository AND resource = p_name) THEN
    RETURN '{"outcome": "name_is_resource", "granted": [], "ended": []}';
  END IF;
  SELECT name INTO v_name FROM pools WHERE repository = p_repository AND name = ANY (p_resources) LIMIT 1;
  IF FOUND THEN
    RETURN jsonb_build_object('outcome', 'member_is_pool', 'name', v_name, 'granted', '[]'::jsonb, 'ended', '[]'::jsonb);
  END IF;

  SELECT * INTO v_pool FROM pools WHERE repository = p_repository AND name = p_name;
  v_created := NOT FOUND;
  IF v_created THEN
    INSERT INTO pools (repository, name, description, created_at, updated_at)
    VALUES (p_repository, p_name, p_description, v_now, v_now) RETURNING * INTO v_pool;
  ELSE
    UPDATE pools SET description = p_description, updated_at = v_now WHERE id = v_pool.id RETURNING * INTO v_pool;
  END IF;
  v_old := array(SELECT lock_id FROM pool_members WHERE pool_id = v_pool.id);
  FOREACH v_name IN ARRAY p_resources LOOP
    SELECT id INTO v_id FROM locks WHERE repository = p_repository AND resource = v_name;
    IF NOT FOUND THEN
      INSERT INTO locks (repository, resource, created_at, updated_at) VALUES (p_repository, v_name, v_now, v_now)
      RETURNING id INTO v_id;
    END IF;
    v_new := v_new || v_id;
  END LOOP;

  -- Settle by the old ties (the new members may be in use by single-lock calls: it waits for them).
  v_settled := mutex_settle_coupled(p_repository, v_now, v_new);
  UPDATE locks SET coupled = coupled - 1, updated_at = v_now WHERE id = ANY (v_old) AND NOT id = ANY (v_new);
  UPDATE locks SET coupled = coupled + 1, updated_at = v_now WHERE id = ANY (v_new) AND NOT id = ANY (v_old);
  DELETE FROM pool_members WHERE pool_id = v_pool.id;
  INSERT INTO pool_members (pool_id, lock_id, position) SELECT v_pool.id, x.id, x.n - 1 FROM unnest(v_new) WITH ORDINALITY AS x(id, n);

  -- A waiting ticket asking for more members than the pool now has could never be granted.
  FOR t IN SELECT * FROM tickets WHERE pool_id = v_pool.id AND status = 'queued' AND lock_count > cardinality(v_new) ORDER BY seq LOOP
    t := mutex_end_ticket(t, 'cancelled', p_actor_id, p_actor_name, 'the pool has fewer members than it asked for', v_now);
    v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, NULL));
  END LOOP;
  v_after := mutex_grant_waiters(p_repository, mutex_coupled_lock_ids(p_repository) || v_old || v_new, v_now);
  RETURN jsonb_build_object('outcome', 'ok', 'created', v_created,
    'granted', (v_settled->'granted') || (v_after->'granted'), 'ended', (v_settled->'ended') || v_ended);
END $$;


-- Deletes a pool: its waiting tickets end 'cancelled'; members it holds stay held by their
-- tickets until released, and its tickets keep its names. outcome: ok | not_found
CREATE OR REPLACE FUNCTION mutex_delete_pool(
  p_repository text, p_name text, p_actor_id uuid, p_actor_name text, p_now timestamptz DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz;
  v_pool pools;
  v_members bigint[];
  v_settled jsonb;
  v_ended jsonb := '[]';
  v_after jsonb;
  t tickets;
BEGIN
  PERFORM mutex_lock_repository(p_repository, true);
  v_now := coalesce(p_now, clock_timestamp());
  SELECT * INTO v_pool FROM pools WHERE repository = p_repository AND name = p_name;
  IF NOT FOUND THEN RETURN '{"outcome": "not_found", "granted": [], "ended": []}'; END IF;
  v_settled := mutex_settle_coupled(p_repository, v_now);
  FOR t IN SELECT * FROM tickets WHERE pool_id = v_pool.id AND status = 'queued' ORDER BY seq LOOP
    t := mutex_end_ticket(t, 'cancelled', p_actor_id, p_actor_name, 'the pool was deleted', v_now);
    v_ended := v_ended || jsonb_build_array(mutex_ticket_json(t, NULL));
  END LOOP;
  v_members := array(SELECT lock_id FROM pool_members WHERE pool_id = v_pool.id);
  UPDATE locks SET coupled = coupled - 1, updated_at = v_now WHERE id = ANY (v_members);
  -- Its tickets keep its names (the audit, and the members still held, show them). Their events
  -- so far, found through the pool until now, stand alone in lock_events from here on.
  UPDATE tickets SET pool_repository = v_pool.repository, pool_name = v_pool.name WHERE pool_id = v_pool.id;
  INSERT INTO lock_events SELECT e.* FROM tickets x, mutex_ticket_events(x) e WHERE x.pool_id = v_pool.id;
  UPDATE tickets SET queued_event = NULL, granted_event = NULL, ended_event = NULL WHERE pool_id = v_pool.id;
  DELETE FROM pools WHERE id = v_pool.id;
  v_after := mutex_grant_waiters(p_repository, mutex_coupled_lock_ids(p_repository) || v_members, v_now);
  RETURN jsonb_build_object('outcome', 'ok', 'granted', (v_settled->'granted') || (v_after->'granted'),
    'ended', (v_settled->'ended') || v_ended);
END $$;
