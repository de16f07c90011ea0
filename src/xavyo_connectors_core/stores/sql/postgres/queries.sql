-- Named queries of the PostgreSQL store, loaded by name (`-- name: <name>` headers).
-- Parameters are named (%(param)s). Lists are passed as arrays and matched with = ANY.
-- Optional filters are cast so that a NULL parameter has a type.
-- Keyset cursors never are NULL: the first page passes the lowest (or highest) sort key.

-- name: tenant_insert
INSERT INTO tenants (id, slug, created_at)
VALUES (%(id)s, %(slug)s, %(created_at)s)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: tenant_get
SELECT * FROM tenants WHERE id = %(id)s;

-- name: tenant_get_by_slug
SELECT * FROM tenants WHERE slug = %(slug)s;

-- name: tenant_list
SELECT * FROM tenants ORDER BY created_at, id;

-- name: api_token_insert
INSERT INTO api_tokens (id, tenant_id, role, digest, name, created_at)
VALUES (%(id)s, %(tenant_id)s, %(role)s, %(digest)s, %(name)s, %(created_at)s)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: api_token_get_by_digest
SELECT * FROM api_tokens WHERE digest = %(digest)s;

-- name: connector_insert
INSERT INTO connectors (
    tenant_id, id, name, name_key, type, role, config, created_at, updated_at,
    description, enabled, secrets, mappings, correlation, reactions, scope, on_leave_scope,
    sync_interval_seconds, max_deletions, max_deletion_ratio, max_operations_per_second,
    max_attempts, retry_base_seconds, retry_max_seconds, last_test, schema_discovered_at,
    needs_attention, version
) VALUES (
    %(tenant_id)s, %(id)s, %(name)s, %(name_key)s, %(type)s, %(role)s, %(config)s, %(created_at)s, %(updated_at)s,
    %(description)s, %(enabled)s, %(secrets)s, %(mappings)s, %(correlation)s, %(reactions)s, %(scope)s,
    %(on_leave_scope)s, %(sync_interval_seconds)s, %(max_deletions)s, %(max_deletion_ratio)s,
    %(max_operations_per_second)s, %(max_attempts)s, %(retry_base_seconds)s, %(retry_max_seconds)s,
    %(last_test)s, %(schema_discovered_at)s, %(needs_attention)s, %(version)s
)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: connector_name_taken
SELECT id FROM connectors
WHERE tenant_id = %(tenant_id)s AND name_key = %(name_key)s AND id <> %(id)s;

-- name: connector_get
SELECT * FROM connectors WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: connector_version
SELECT version FROM connectors WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: connector_update
UPDATE connectors SET
    name = %(name)s, name_key = %(name_key)s, type = %(type)s, role = %(role)s, config = %(config)s,
    created_at = %(created_at)s, updated_at = %(updated_at)s, description = %(description)s,
    enabled = %(enabled)s, secrets = %(secrets)s, mappings = %(mappings)s,
    correlation = %(correlation)s, reactions = %(reactions)s, scope = %(scope)s,
    on_leave_scope = %(on_leave_scope)s, sync_interval_seconds = %(sync_interval_seconds)s,
    max_deletions = %(max_deletions)s, max_deletion_ratio = %(max_deletion_ratio)s,
    max_operations_per_second = %(max_operations_per_second)s, max_attempts = %(max_attempts)s,
    retry_base_seconds = %(retry_base_seconds)s, retry_max_seconds = %(retry_max_seconds)s,
    last_test = %(last_test)s, schema_discovered_at = %(schema_discovered_at)s,
    needs_attention = %(needs_attention)s, version = %(version)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s AND version = %(expected_version)s;

-- name: connector_delete
DELETE FROM connectors WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: connector_list
SELECT * FROM connectors
WHERE tenant_id = %(tenant_id)s
  AND (created_at, id) > (%(after_time)s::timestamptz, %(after_id)s::uuid)
  AND (%(type)s::text IS NULL OR type = %(type)s)
  AND (%(role)s::text IS NULL OR role = %(role)s)
  AND (%(enabled)s::boolean IS NULL OR enabled = %(enabled)s)
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: connector_list_all
SELECT * FROM connectors
WHERE (created_at, id) > (%(after_time)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: schema_insert
INSERT INTO schema_versions (tenant_id, connector_id, version, schema, diff, discovered_at)
VALUES (%(tenant_id)s, %(connector_id)s, %(version)s, %(schema)s, %(diff)s, %(discovered_at)s);

-- name: schema_list
SELECT * FROM schema_versions
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s AND version < %(before_version)s
ORDER BY version DESC
LIMIT %(limit)s;

-- name: schema_delete_for_connector
DELETE FROM schema_versions WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s;

-- name: shadow_upsert
INSERT INTO shadows (
    tenant_id, connector_id, uid, name, attributes, attributes_hash, situation,
    last_seen_at, identity_id, last_run_id
) VALUES (
    %(tenant_id)s, %(connector_id)s, %(uid)s, %(name)s, %(attributes)s, %(attributes_hash)s, %(situation)s,
    %(last_seen_at)s, %(identity_id)s, %(last_run_id)s
)
ON CONFLICT (tenant_id, connector_id, uid) DO UPDATE SET
    name = excluded.name, attributes = excluded.attributes,
    attributes_hash = excluded.attributes_hash, situation = excluded.situation,
    last_seen_at = excluded.last_seen_at, identity_id = excluded.identity_id,
    last_run_id = excluded.last_run_id;

-- name: shadow_upsert_bulk
-- The batch path (upsert_many): one array per column, one statement per batch (uids
-- distinct within the batch).
INSERT INTO shadows (
    tenant_id, connector_id, uid, name, attributes, attributes_hash, situation,
    last_seen_at, identity_id, last_run_id
)
SELECT * FROM unnest(
    %(tenant_id)b::uuid[], %(connector_id)b::uuid[], %(uid)b::text[], %(name)b::text[],
    %(attributes)b::json[], %(attributes_hash)b::text[], %(situation)b::text[],
    %(last_seen_at)b::timestamptz[], %(identity_id)b::uuid[], %(last_run_id)b::uuid[]
)
ON CONFLICT (tenant_id, connector_id, uid) DO UPDATE SET
    name = excluded.name, attributes = excluded.attributes,
    attributes_hash = excluded.attributes_hash, situation = excluded.situation,
    last_seen_at = excluded.last_seen_at, identity_id = excluded.identity_id,
    last_run_id = excluded.last_run_id;

-- name: shadow_get_many
SELECT * FROM shadows
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s
  AND uid = ANY(%(uids)s::text[]);

-- name: shadow_by_identities
SELECT * FROM shadows
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s
  AND identity_id = ANY(%(identity_ids)s::uuid[]);  -- no ORDER BY: it made SQLite scan by primary key instead of shadows_identity

-- name: shadow_stamp_many
UPDATE shadows SET last_run_id = %(run_id)s, last_seen_at = %(seen_at)s
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s
  AND uid = ANY(%(uids)s::text[]);

-- name: shadow_live_links
SELECT identity_id FROM shadows
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s
  AND identity_id = ANY(%(identity_ids)s::uuid[])
  AND situation <> 'deleted';

-- name: shadow_delete_many
DELETE FROM shadows
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s
  AND uid = ANY(%(uids)s::text[]);

-- name: shadow_delete_for_connector
DELETE FROM shadows WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s;

-- name: shadow_count
SELECT count(*) AS n FROM shadows
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s;

-- name: shadow_list
SELECT * FROM shadows
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s AND uid > %(after_uid)s
  AND (%(situation)s::text IS NULL OR situation = %(situation)s)
  AND (%(linked)s::boolean IS NULL OR (identity_id IS NOT NULL) = %(linked)s)
ORDER BY uid
LIMIT %(limit)s;

-- name: shadow_not_seen
SELECT * FROM shadows
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s AND uid > %(after_uid)s
  AND last_run_id IS DISTINCT FROM %(run_id)s::uuid
ORDER BY uid
LIMIT %(limit)s;

-- name: run_insert
INSERT INTO runs (
    tenant_id, id, connector_id, kind, mode, queued_at, status, progress, counts, actions,
    plan_run_id, discrepancy_ids, allow_mass_deletion, scheduled_slot, error, checkpoint,
    cancel_requested, lease_owner, lease_expires_at, started_at, finished_at
) VALUES (
    %(tenant_id)s, %(id)s, %(connector_id)s, %(kind)s, %(mode)s, %(queued_at)s, %(status)s, %(progress)s, %(counts)s,
    %(actions)s, %(plan_run_id)s, %(discrepancy_ids)s, %(allow_mass_deletion)s, %(scheduled_slot)s, %(error)s, %(checkpoint)s,
    %(cancel_requested)s, %(lease_owner)s, %(lease_expires_at)s, %(started_at)s, %(finished_at)s
)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: run_get
SELECT * FROM runs WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: run_update
UPDATE runs SET
    connector_id = %(connector_id)s, kind = %(kind)s, mode = %(mode)s, queued_at = %(queued_at)s,
    status = %(status)s, progress = %(progress)s, counts = %(counts)s, actions = %(actions)s,
    plan_run_id = %(plan_run_id)s, discrepancy_ids = %(discrepancy_ids)s,
    allow_mass_deletion = %(allow_mass_deletion)s, scheduled_slot = %(scheduled_slot)s,
    error = %(error)s, checkpoint = %(checkpoint)s,
    cancel_requested = %(cancel_requested)s, lease_owner = %(lease_owner)s,
    lease_expires_at = %(lease_expires_at)s, started_at = %(started_at)s,
    finished_at = %(finished_at)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: run_active
SELECT * FROM runs
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s
  AND status IN ('queued', 'running')
  AND (%(exclude_id)s::uuid IS NULL OR id <> %(exclude_id)s::uuid);

-- name: run_last_finished
SELECT * FROM runs
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s AND kind = %(kind)s
  AND status IN ('succeeded', 'failed', 'cancelled')
ORDER BY finished_at DESC NULLS LAST, queued_at DESC, id DESC
LIMIT 1;

-- name: run_slot_taken
SELECT * FROM runs
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s
  AND scheduled_slot = %(scheduled_slot)s AND id <> %(exclude_id)s::uuid;

-- name: run_last_queued
SELECT * FROM runs
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s AND kind = %(kind)s
ORDER BY queued_at DESC, id DESC
LIMIT 1;

-- name: run_list
SELECT * FROM runs
WHERE tenant_id = %(tenant_id)s
  AND (queued_at, id) < (%(before_time)s::timestamptz, %(before_id)s::uuid)
  AND (%(kind)s::text IS NULL OR kind = %(kind)s)
  AND (%(connector_id)s::uuid IS NULL OR connector_id = %(connector_id)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY queued_at DESC, id DESC
LIMIT %(limit)s;

-- name: run_claim
-- The oldest queued run, or a running one whose lease expired. SKIP LOCKED lets any
-- number of workers claim at once without waiting on each other.
UPDATE runs AS r SET
    status = 'running',
    lease_owner = %(owner)s,
    lease_expires_at = %(lease_expires_at)s,
    started_at = coalesce(r.started_at, %(now)s)
FROM (
    SELECT tenant_id, id FROM runs
    WHERE status = 'queued'
       OR (status = 'running'
           AND (lease_expires_at IS NULL OR lease_expires_at <= %(now)s::timestamptz))
    ORDER BY queued_at, id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
) AS c
WHERE r.tenant_id = c.tenant_id AND r.id = c.id
RETURNING r.*;

-- name: discrepancy_insert
INSERT INTO discrepancies (
    tenant_id, id, run_id, connector_id, situation, created_at, account_uid, identity_id,
    differences, explanation, reaction, outcome, operation_id, status, error, account_hash
) VALUES (
    %(tenant_id)s, %(id)s, %(run_id)s, %(connector_id)s, %(situation)s, %(created_at)s, %(account_uid)s,
    %(identity_id)s, %(differences)s, %(explanation)s, %(reaction)s, %(outcome)s, %(operation_id)s, %(status)s,
    %(error)s, %(account_hash)s
);

-- name: discrepancy_insert_bulk
INSERT INTO discrepancies (
    tenant_id, id, run_id, connector_id, situation, created_at, account_uid, identity_id,
    differences, explanation, reaction, outcome, operation_id, status, error, account_hash
)
SELECT * FROM unnest(
    %(tenant_id)b::uuid[], %(id)b::uuid[], %(run_id)b::uuid[], %(connector_id)b::uuid[],
    %(situation)b::text[], %(created_at)b::timestamptz[], %(account_uid)b::text[],
    %(identity_id)b::uuid[], %(differences)b::json[], %(explanation)b::text[],
    %(reaction)b::text[], %(outcome)b::text[], %(operation_id)b::uuid[], %(status)b::text[],
    %(error)b::text[], %(account_hash)b::text[]
);

-- name: discrepancy_get
SELECT * FROM discrepancies WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: discrepancy_update
UPDATE discrepancies SET
    run_id = %(run_id)s, connector_id = %(connector_id)s, situation = %(situation)s,
    created_at = %(created_at)s, account_uid = %(account_uid)s, identity_id = %(identity_id)s,
    differences = %(differences)s, explanation = %(explanation)s, reaction = %(reaction)s,
    outcome = %(outcome)s, operation_id = %(operation_id)s, status = %(status)s, error = %(error)s,
    account_hash = %(account_hash)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: discrepancy_list
SELECT * FROM discrepancies
WHERE tenant_id = %(tenant_id)s AND run_id = %(run_id)s
  AND (created_at, id) > (%(after_time)s::timestamptz, %(after_id)s::uuid)
  AND (%(situation)s::text IS NULL OR situation = %(situation)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: discrepancy_resolve_absent
-- Resolve the connector's open discrepancies of other runs that the given run did not find
-- again: same situation, account uid and identity id, a NULL matching a NULL. Written as
-- equalities of (is null, coalesced value), which is exact and lets the planner choose a
-- hash anti-join over a big run (IS NOT DISTINCT FROM could only be probed row by row).
UPDATE discrepancies AS d SET status = 'resolved'
WHERE d.tenant_id = %(tenant_id)s AND d.connector_id = %(connector_id)s AND d.status = 'open'
  AND d.run_id <> %(run_id)s
  AND NOT EXISTS (
    SELECT 1 FROM discrepancies AS n
    WHERE n.tenant_id = %(tenant_id)s AND n.run_id = %(run_id)s
      AND n.situation = d.situation
      AND (n.account_uid IS NULL) = (d.account_uid IS NULL)
      AND coalesce(n.account_uid, '') = coalesce(d.account_uid, '')
      AND (n.identity_id IS NULL) = (d.identity_id IS NULL)
      AND coalesce(n.identity_id, '00000000-0000-0000-0000-000000000000'::uuid)
          = coalesce(d.identity_id, '00000000-0000-0000-0000-000000000000'::uuid)
  );

-- name: operation_next_seqs
SELECT nextval(pg_get_serial_sequence('operations', 'seq')) AS seq
FROM generate_series(1, %(n)s);

-- name: operation_insert_bulk
-- enqueue_many: one array per column, one statement per batch.
INSERT INTO operations (
    seq, tenant_id, id, connector_id, kind, created_at, updated_at, next_attempt_at,
    account_uid, identity_id, changes, status, attempts, max_attempts, last_error,
    last_response, reason, lease_owner, lease_expires_at, account_key
)
SELECT * FROM unnest(
    %(seq)b::bigint[], %(tenant_id)b::uuid[], %(id)b::uuid[], %(connector_id)b::uuid[],
    %(kind)b::text[], %(created_at)b::timestamptz[], %(updated_at)b::timestamptz[],
    %(next_attempt_at)b::timestamptz[], %(account_uid)b::text[], %(identity_id)b::uuid[],
    %(changes)b::json[], %(status)b::text[], %(attempts)b::bigint[], %(max_attempts)b::bigint[],
    %(last_error)b::text[], %(last_response)b::text[], %(reason)b::text[],
    %(lease_owner)b::text[], %(lease_expires_at)b::timestamptz[], %(account_key)b::text[]
);

-- name: operation_get
SELECT * FROM operations WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: operation_update
UPDATE operations SET
    connector_id = %(connector_id)s, kind = %(kind)s, created_at = %(created_at)s,
    updated_at = %(updated_at)s, next_attempt_at = %(next_attempt_at)s,
    account_uid = %(account_uid)s, identity_id = %(identity_id)s, changes = %(changes)s,
    status = %(status)s, attempts = %(attempts)s, max_attempts = %(max_attempts)s,
    last_error = %(last_error)s, last_response = %(last_response)s, reason = %(reason)s,
    lease_owner = %(lease_owner)s, lease_expires_at = %(lease_expires_at)s,
    account_key = %(account_key)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: operation_ack
-- the lease fence: only the worker holding the operation records its outcome
UPDATE operations SET
    connector_id = %(connector_id)s, kind = %(kind)s, created_at = %(created_at)s,
    updated_at = %(updated_at)s, next_attempt_at = %(next_attempt_at)s,
    account_uid = %(account_uid)s, identity_id = %(identity_id)s, changes = %(changes)s,
    status = %(status)s, attempts = %(attempts)s, max_attempts = %(max_attempts)s,
    last_error = %(last_error)s, last_response = %(last_response)s, reason = %(reason)s,
    lease_owner = %(lease_owner)s, lease_expires_at = %(lease_expires_at)s,
    account_key = %(account_key)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s
  AND status = 'in_progress' AND lease_owner = %(owner)s;

-- name: operation_list
SELECT * FROM operations
WHERE tenant_id = %(tenant_id)s AND seq > %(after_seq)s
  AND (%(connector_id)s::uuid IS NULL OR connector_id = %(connector_id)s)
  AND (%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
ORDER BY seq
LIMIT %(limit)s;

-- name: operation_dead_letter
UPDATE operations SET
    status = 'dead', last_error = %(reason)s, updated_at = %(now)s,
    lease_owner = NULL, lease_expires_at = NULL
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s
  AND status IN ('pending', 'in_progress', 'retrying');

-- name: operation_stats
SELECT connector_id, status, count(*) AS n, min(created_at) AS oldest
FROM operations
WHERE tenant_id = %(tenant_id)s
  AND status IN ('pending', 'in_progress', 'retrying', 'dead')
GROUP BY connector_id, status;

-- name: operation_claim_due
-- Due operations of any tenant, oldest seq first (operations_queue, in seq order): not of
-- a quarantined or disabled connector, and none with an earlier unfinished operation of
-- its account (operations_account). The first status term repeats the index's WHERE so
-- that the partial index can be used. SKIP LOCKED lets workers claim at once without
-- waiting; two of them never hold two operations of one account, because the earlier
-- one stays unfinished (so the later one is not due) until it is acked, and a finished
-- operation never becomes unfinished again.
UPDATE operations AS u SET
    status = 'in_progress', lease_owner = %(owner)s, lease_expires_at = %(lease_expires_at)s
FROM (
    SELECT o.seq FROM operations AS o
    WHERE o.status IN ('pending', 'retrying', 'in_progress')
      AND ((o.status IN ('pending', 'retrying') AND o.next_attempt_at <= %(now)s::timestamptz)
           OR (o.status = 'in_progress'
               AND (o.lease_expires_at IS NULL OR o.lease_expires_at < %(now)s::timestamptz)))
      AND NOT EXISTS (
        SELECT 1 FROM connector_health AS h
        WHERE h.tenant_id = o.tenant_id AND h.connector_id = o.connector_id
          AND h.quarantined_until > %(now)s::timestamptz)
      AND NOT EXISTS (
        SELECT 1 FROM connectors AS c
        WHERE c.tenant_id = o.tenant_id AND c.id = o.connector_id AND NOT c.enabled)
      AND NOT EXISTS (
        SELECT 1 FROM operations AS e
        WHERE e.tenant_id = o.tenant_id AND e.connector_id = o.connector_id
          AND e.account_key = o.account_key AND e.seq < o.seq
          AND e.status IN ('pending', 'retrying', 'in_progress', 'dead'))
    ORDER BY o.seq
    LIMIT %(limit)s
    FOR UPDATE OF o SKIP LOCKED
) AS due
WHERE u.seq = due.seq
RETURNING u.*;

-- name: operation_latest_for_account
SELECT * FROM operations
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s
  AND account_key = %(account_key)s
ORDER BY seq DESC
LIMIT 1;

-- name: operation_lock_pending
-- Lock an operation while it is pending (waiting for a claim that holds it, then looking
-- again): a concurrent claim skips it while the caller coalesces into it.
SELECT * FROM operations WHERE seq = %(seq)s AND status = 'pending' FOR UPDATE;

-- name: operation_by_seq
SELECT * FROM operations WHERE seq = %(seq)s;

-- name: operation_count_behind
SELECT count(*) AS n FROM operations
WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s AND account_key = %(account_key)s
  AND seq > %(seq)s AND status IN ('pending', 'retrying', 'in_progress', 'dead');

-- name: operation_quarantined
SELECT connector_id, quarantined_until FROM connector_health
WHERE tenant_id = %(tenant_id)s AND quarantined_until > %(now)s::timestamptz;

-- name: health_get
SELECT * FROM connector_health WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s;

-- name: health_put
-- Nothing is written for a connector that does not exist (any more).
INSERT INTO connector_health (tenant_id, connector_id, consecutive_failures, quarantined_until)
SELECT %(tenant_id)s::uuid, %(connector_id)s::uuid, %(consecutive_failures)s::bigint,
    %(quarantined_until)s::timestamptz
WHERE EXISTS (SELECT 1 FROM connectors WHERE tenant_id = %(tenant_id)s AND id = %(connector_id)s)
ON CONFLICT (tenant_id, connector_id) DO UPDATE SET
    consecutive_failures = excluded.consecutive_failures,
    quarantined_until = excluded.quarantined_until;

-- name: sync_token_get
SELECT * FROM sync_tokens WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s;

-- name: sync_token_put
INSERT INTO sync_tokens (tenant_id, connector_id, token, updated_at)
VALUES (%(tenant_id)s, %(connector_id)s, %(token)s, %(updated_at)s)
ON CONFLICT (tenant_id, connector_id) DO UPDATE SET
    token = excluded.token, updated_at = excluded.updated_at;

-- name: sync_token_delete
DELETE FROM sync_tokens WHERE tenant_id = %(tenant_id)s AND connector_id = %(connector_id)s;

-- name: identity_insert
INSERT INTO identities (tenant_id, id, attributes, created_at, updated_at, enabled, version)
VALUES (%(tenant_id)s, %(id)s, %(attributes)s, %(created_at)s, %(updated_at)s, %(enabled)s, %(version)s)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: identity_insert_bulk
-- The batch path (add_many): one array per column, one statement per batch; a taken id
-- fails the whole batch.
INSERT INTO identities (tenant_id, id, attributes, created_at, updated_at, enabled, version)
SELECT * FROM unnest(
    %(tenant_id)b::uuid[], %(id)b::uuid[], %(attributes)b::json[], %(created_at)b::timestamptz[],
    %(updated_at)b::timestamptz[], %(enabled)b::boolean[], %(version)b::bigint[]
);

-- name: identity_page_all
-- Every identity of every tenant, in pages (the migration rebuilding value keys).
SELECT * FROM identities
WHERE %(after_tenant)s::uuid IS NULL
   OR (tenant_id, id) > (%(after_tenant)s::uuid, %(after_id)s::uuid)
ORDER BY tenant_id, id
LIMIT %(limit)s;

-- name: identity_values_insert_bulk
INSERT INTO identity_values (tenant_id, attribute, value_key, identity_id)
SELECT * FROM unnest(
    %(tenant_id)b::uuid[], %(attribute)b::text[], %(value_key)b::text[], %(identity_id)b::uuid[]
);

-- name: identity_values_delete
DELETE FROM identity_values WHERE tenant_id = %(tenant_id)s AND identity_id = %(identity_id)s;

-- name: identity_get
SELECT * FROM identities WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: identity_get_many
SELECT * FROM identities
WHERE tenant_id = %(tenant_id)s AND id = ANY(%(ids)s::uuid[]);

-- name: identity_find
SELECT v.value_key AS value_key, i.*
FROM identity_values AS v
JOIN identities AS i ON i.tenant_id = v.tenant_id AND i.id = v.identity_id
WHERE v.tenant_id = %(tenant_id)s AND v.attribute = %(attribute)s
  AND v.value_key = ANY(%(value_keys)s::text[])
ORDER BY v.value_key, i.id;

-- name: identity_page_by_id
SELECT * FROM identities
WHERE tenant_id = %(tenant_id)s AND id >= %(from_id)s
ORDER BY id
LIMIT %(limit)s;

-- name: identity_version
SELECT version FROM identities WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: identity_update
UPDATE identities SET
    attributes = %(attributes)s, created_at = %(created_at)s, updated_at = %(updated_at)s,
    enabled = %(enabled)s, version = %(version)s
WHERE tenant_id = %(tenant_id)s AND id = %(id)s AND version = %(expected_version)s;

-- name: identity_delete
DELETE FROM identities WHERE tenant_id = %(tenant_id)s AND id = %(id)s;

-- name: identity_without_live_account
-- Reconciliation pass 3: walks identities_tenant_created, probes shadows_identity_live.
SELECT * FROM identities AS i
WHERE i.tenant_id = %(tenant_id)s AND i.enabled
  AND (i.created_at, i.id) > (%(after_time)s::timestamptz, %(after_id)s::uuid)
  AND NOT EXISTS (
    SELECT 1 FROM shadows AS s
    WHERE s.tenant_id = i.tenant_id AND s.connector_id = %(connector_id)s
      AND s.identity_id = i.id AND s.situation <> 'deleted'
  )
ORDER BY i.created_at, i.id
LIMIT %(limit)s;

-- name: identity_list
SELECT * FROM identities
WHERE tenant_id = %(tenant_id)s
  AND (created_at, id) > (%(after_time)s::timestamptz, %(after_id)s::uuid)
  AND (%(enabled)s::boolean IS NULL OR enabled = %(enabled)s)
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: migrations_lock
-- Serializes concurrent migrators (any constant key; this one spells "xavyo").
SELECT pg_advisory_xact_lock(7883945961);

-- name: migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     NOT NULL PRIMARY KEY,
    applied_at  timestamptz NOT NULL
);

-- name: migrations_applied
SELECT version FROM schema_migrations ORDER BY version;

-- name: migration_record
INSERT INTO schema_migrations (version, applied_at) VALUES (%(version)s, %(applied_at)s);

-- name: stale_statistics
SELECT relname FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND relname = ANY(%(tables)s::text[])
  AND n_live_tup + n_mod_since_analyze >= 1000
  AND (coalesce(last_analyze, last_autoanalyze) IS NULL
       OR n_mod_since_analyze > 0.2 * greatest(n_live_tup, 1));
