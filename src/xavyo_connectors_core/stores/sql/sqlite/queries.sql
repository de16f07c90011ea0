-- Named queries of the SQLite store, loaded by name (`-- name: <name>` headers).
-- Parameters are named (:param). Lists are passed as JSON arrays and read with json_each.
-- Keyset cursors never are NULL: the first page passes the lowest (or highest) sort key.

-- name: tenant_insert
INSERT INTO tenants (id, slug, created_at)
VALUES (:id, :slug, :created_at)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: tenant_get
SELECT * FROM tenants WHERE id = :id;

-- name: tenant_get_by_slug
SELECT * FROM tenants WHERE slug = :slug;

-- name: tenant_list
SELECT * FROM tenants ORDER BY created_at, id;

-- name: api_token_insert
INSERT INTO api_tokens (id, tenant_id, role, digest, name, created_at)
VALUES (:id, :tenant_id, :role, :digest, :name, :created_at)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: api_token_get_by_digest
SELECT * FROM api_tokens WHERE digest = :digest;

-- name: connector_insert
INSERT INTO connectors (
    tenant_id, id, name, name_key, type, role, config, created_at, updated_at,
    description, enabled, secrets, mappings, correlation, reactions, scope, on_leave_scope,
    sync_interval_seconds, max_deletions, max_deletion_ratio, max_operations_per_second,
    max_attempts, retry_base_seconds, retry_max_seconds, last_test, schema_discovered_at,
    needs_attention, version
) VALUES (
    :tenant_id, :id, :name, :name_key, :type, :role, :config, :created_at, :updated_at,
    :description, :enabled, :secrets, :mappings, :correlation, :reactions, :scope,
    :on_leave_scope, :sync_interval_seconds, :max_deletions, :max_deletion_ratio,
    :max_operations_per_second, :max_attempts, :retry_base_seconds, :retry_max_seconds,
    :last_test, :schema_discovered_at, :needs_attention, :version
)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: connector_name_taken
SELECT id FROM connectors
WHERE tenant_id = :tenant_id AND name_key = :name_key AND id <> :id;

-- name: connector_get
SELECT * FROM connectors WHERE tenant_id = :tenant_id AND id = :id;

-- name: connector_version
SELECT version FROM connectors WHERE tenant_id = :tenant_id AND id = :id;

-- name: connector_update
UPDATE connectors SET
    name = :name, name_key = :name_key, type = :type, role = :role, config = :config,
    created_at = :created_at, updated_at = :updated_at, description = :description,
    enabled = :enabled, secrets = :secrets, mappings = :mappings,
    correlation = :correlation, reactions = :reactions, scope = :scope,
    on_leave_scope = :on_leave_scope, sync_interval_seconds = :sync_interval_seconds,
    max_deletions = :max_deletions, max_deletion_ratio = :max_deletion_ratio,
    max_operations_per_second = :max_operations_per_second, max_attempts = :max_attempts,
    retry_base_seconds = :retry_base_seconds, retry_max_seconds = :retry_max_seconds,
    last_test = :last_test, schema_discovered_at = :schema_discovered_at,
    needs_attention = :needs_attention, version = :version
WHERE tenant_id = :tenant_id AND id = :id AND version = :expected_version;

-- name: connector_delete
DELETE FROM connectors WHERE tenant_id = :tenant_id AND id = :id;

-- name: connector_list
SELECT * FROM connectors
WHERE tenant_id = :tenant_id
  AND (created_at, id) > (:after_time, :after_id)
  AND (:type IS NULL OR type = :type)
  AND (:role IS NULL OR role = :role)
  AND (:enabled IS NULL OR enabled = :enabled)
ORDER BY created_at, id
LIMIT :limit;

-- name: connector_list_all
SELECT * FROM connectors
WHERE (created_at, id) > (:after_time, :after_id)
ORDER BY created_at, id
LIMIT :limit;

-- name: schema_insert
INSERT INTO schema_versions (tenant_id, connector_id, version, schema, diff, discovered_at)
VALUES (:tenant_id, :connector_id, :version, :schema, :diff, :discovered_at);

-- name: schema_list
SELECT * FROM schema_versions
WHERE tenant_id = :tenant_id AND connector_id = :connector_id AND version < :before_version
ORDER BY version DESC
LIMIT :limit;

-- name: schema_delete_for_connector
DELETE FROM schema_versions WHERE tenant_id = :tenant_id AND connector_id = :connector_id;

-- name: shadow_upsert
INSERT INTO shadows (
    tenant_id, connector_id, uid, name, attributes, attributes_hash, situation,
    last_seen_at, identity_id, last_run_id
) VALUES (
    :tenant_id, :connector_id, :uid, :name, :attributes, :attributes_hash, :situation,
    :last_seen_at, :identity_id, :last_run_id
)
ON CONFLICT (tenant_id, connector_id, uid) DO UPDATE SET
    name = excluded.name, attributes = excluded.attributes,
    attributes_hash = excluded.attributes_hash, situation = excluded.situation,
    last_seen_at = excluded.last_seen_at, identity_id = excluded.identity_id,
    last_run_id = excluded.last_run_id;

-- name: shadow_upsert_bulk
-- (executed for many rows, like shadow_upsert)
INSERT INTO shadows (
    tenant_id, connector_id, uid, name, attributes, attributes_hash, situation,
    last_seen_at, identity_id, last_run_id
) VALUES (
    :tenant_id, :connector_id, :uid, :name, :attributes, :attributes_hash, :situation,
    :last_seen_at, :identity_id, :last_run_id
)
ON CONFLICT (tenant_id, connector_id, uid) DO UPDATE SET
    name = excluded.name, attributes = excluded.attributes,
    attributes_hash = excluded.attributes_hash, situation = excluded.situation,
    last_seen_at = excluded.last_seen_at, identity_id = excluded.identity_id,
    last_run_id = excluded.last_run_id;

-- name: shadow_get_many
SELECT * FROM shadows
WHERE tenant_id = :tenant_id AND connector_id = :connector_id
  AND uid IN (SELECT value FROM json_each(:uids));

-- name: shadow_by_identities
SELECT * FROM shadows
WHERE tenant_id = :tenant_id AND connector_id = :connector_id
  AND identity_id IN (SELECT value FROM json_each(:identity_ids));  -- no ORDER BY: it made SQLite scan by primary key instead of shadows_identity

-- name: shadow_stamp_many
UPDATE shadows SET last_run_id = :run_id, last_seen_at = :seen_at
WHERE tenant_id = :tenant_id AND connector_id = :connector_id
  AND uid IN (SELECT value FROM json_each(:uids));

-- name: shadow_live_links
SELECT identity_id FROM shadows
WHERE tenant_id = :tenant_id AND connector_id = :connector_id
  AND identity_id IN (SELECT value FROM json_each(:identity_ids))
  AND situation <> 'deleted';

-- name: shadow_delete_many
DELETE FROM shadows
WHERE tenant_id = :tenant_id AND connector_id = :connector_id
  AND uid IN (SELECT value FROM json_each(:uids));

-- name: shadow_delete_for_connector
DELETE FROM shadows WHERE tenant_id = :tenant_id AND connector_id = :connector_id;

-- name: shadow_count
SELECT count(*) AS n FROM shadows
WHERE tenant_id = :tenant_id AND connector_id = :connector_id;

-- name: shadow_list
SELECT * FROM shadows
WHERE tenant_id = :tenant_id AND connector_id = :connector_id AND uid > :after_uid
  AND (:situation IS NULL OR situation = :situation)
  AND (:linked IS NULL OR (identity_id IS NOT NULL) = :linked)
ORDER BY uid
LIMIT :limit;

-- name: shadow_not_seen
SELECT * FROM shadows
WHERE tenant_id = :tenant_id AND connector_id = :connector_id AND uid > :after_uid
  AND last_run_id IS NOT :run_id
ORDER BY uid
LIMIT :limit;

-- name: run_insert
INSERT INTO runs (
    tenant_id, id, connector_id, kind, mode, queued_at, status, progress, counts, actions,
    plan_run_id, discrepancy_ids, allow_mass_deletion, scheduled_slot, error, checkpoint,
    cancel_requested, lease_owner, lease_expires_at, started_at, finished_at
) VALUES (
    :tenant_id, :id, :connector_id, :kind, :mode, :queued_at, :status, :progress, :counts,
    :actions, :plan_run_id, :discrepancy_ids, :allow_mass_deletion, :scheduled_slot, :error, :checkpoint,
    :cancel_requested, :lease_owner, :lease_expires_at, :started_at, :finished_at
)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: run_get
SELECT * FROM runs WHERE tenant_id = :tenant_id AND id = :id;

-- name: run_update
UPDATE runs SET
    connector_id = :connector_id, kind = :kind, mode = :mode, queued_at = :queued_at,
    status = :status, progress = :progress, counts = :counts, actions = :actions,
    plan_run_id = :plan_run_id, discrepancy_ids = :discrepancy_ids,
    allow_mass_deletion = :allow_mass_deletion, scheduled_slot = :scheduled_slot,
    error = :error, checkpoint = :checkpoint,
    cancel_requested = :cancel_requested, lease_owner = :lease_owner,
    lease_expires_at = :lease_expires_at, started_at = :started_at,
    finished_at = :finished_at
WHERE tenant_id = :tenant_id AND id = :id;

-- name: run_active
SELECT * FROM runs
WHERE tenant_id = :tenant_id AND connector_id = :connector_id
  AND status IN ('queued', 'running')
  AND (:exclude_id IS NULL OR id <> :exclude_id);

-- name: run_last_finished
SELECT * FROM runs
WHERE tenant_id = :tenant_id AND connector_id = :connector_id AND kind = :kind
  AND status IN ('succeeded', 'failed', 'cancelled')
ORDER BY finished_at DESC NULLS LAST, queued_at DESC, id DESC
LIMIT 1;

-- name: run_slot_taken
SELECT * FROM runs
WHERE tenant_id = :tenant_id AND connector_id = :connector_id
  AND scheduled_slot = :scheduled_slot AND id <> :exclude_id;

-- name: run_last_queued
SELECT * FROM runs
WHERE tenant_id = :tenant_id AND connector_id = :connector_id AND kind = :kind
ORDER BY queued_at DESC, id DESC
LIMIT 1;

-- name: run_list
SELECT * FROM runs
WHERE tenant_id = :tenant_id
  AND (queued_at, id) < (:before_time, :before_id)
  AND (:kind IS NULL OR kind = :kind)
  AND (:connector_id IS NULL OR connector_id = :connector_id)
  AND (:status IS NULL OR status = :status)
ORDER BY queued_at DESC, id DESC
LIMIT :limit;

-- name: run_claim
-- The oldest queued run, or a running one whose lease expired. BEGIN IMMEDIATE makes
-- the whole unit of work a single writer, so no row locking is needed here.
UPDATE runs SET
    status = 'running',
    lease_owner = :owner,
    lease_expires_at = :lease_expires_at,
    started_at = coalesce(started_at, :now)
WHERE (tenant_id, id) = (
    SELECT tenant_id, id FROM runs
    WHERE status = 'queued'
       OR (status = 'running' AND (lease_expires_at IS NULL OR lease_expires_at <= :now))
    ORDER BY queued_at, id
    LIMIT 1
)
RETURNING *;

-- name: discrepancy_insert
INSERT INTO discrepancies (
    tenant_id, id, run_id, connector_id, situation, created_at, account_uid, identity_id,
    differences, explanation, reaction, outcome, operation_id, status, error, account_hash
) VALUES (
    :tenant_id, :id, :run_id, :connector_id, :situation, :created_at, :account_uid,
    :identity_id, :differences, :explanation, :reaction, :outcome, :operation_id, :status,
    :error, :account_hash
);

-- name: discrepancy_insert_bulk
INSERT INTO discrepancies (
    tenant_id, id, run_id, connector_id, situation, created_at, account_uid, identity_id,
    differences, explanation, reaction, outcome, operation_id, status, error, account_hash
) VALUES (
    :tenant_id, :id, :run_id, :connector_id, :situation, :created_at, :account_uid,
    :identity_id, :differences, :explanation, :reaction, :outcome, :operation_id, :status,
    :error, :account_hash
);

-- name: discrepancy_get
SELECT * FROM discrepancies WHERE tenant_id = :tenant_id AND id = :id;

-- name: discrepancy_update
UPDATE discrepancies SET
    run_id = :run_id, connector_id = :connector_id, situation = :situation,
    created_at = :created_at, account_uid = :account_uid, identity_id = :identity_id,
    differences = :differences, explanation = :explanation, reaction = :reaction,
    outcome = :outcome, operation_id = :operation_id, status = :status, error = :error,
    account_hash = :account_hash
WHERE tenant_id = :tenant_id AND id = :id;

-- name: discrepancy_list
SELECT * FROM discrepancies
WHERE tenant_id = :tenant_id AND run_id = :run_id
  AND (created_at, id) > (:after_time, :after_id)
  AND (:situation IS NULL OR situation = :situation)
  AND (:status IS NULL OR status = :status)
ORDER BY created_at, id
LIMIT :limit;

-- name: discrepancy_resolve_absent
-- Resolve the connector's open discrepancies of other runs that the given run did not find
-- again: same situation, account uid and identity id (IS: a NULL matches a NULL). The
-- probe is an index lookup (discrepancies_subject) per open discrepancy.
UPDATE discrepancies AS d SET status = 'resolved'
WHERE d.tenant_id = :tenant_id AND d.connector_id = :connector_id AND d.status = 'open'
  AND d.run_id <> :run_id
  AND NOT EXISTS (
    SELECT 1 FROM discrepancies AS n
    WHERE n.tenant_id = :tenant_id AND n.run_id = :run_id
      AND n.situation = d.situation
      AND n.account_uid IS d.account_uid
      AND n.identity_id IS d.identity_id
  );

-- name: operation_last_seq
-- Under BEGIN IMMEDIATE nobody else inserts, so the next seqs can be handed out.
SELECT max(
    coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'operations'), 0),
    coalesce((SELECT max(seq) FROM operations), 0)
) AS seq;

-- name: operation_insert_bulk
INSERT INTO operations (
    seq, tenant_id, id, connector_id, kind, created_at, updated_at, next_attempt_at,
    account_uid, identity_id, changes, status, attempts, max_attempts, last_error,
    last_response, reason, lease_owner, lease_expires_at, account_key
) VALUES (
    :seq, :tenant_id, :id, :connector_id, :kind, :created_at, :updated_at, :next_attempt_at,
    :account_uid, :identity_id, :changes, :status, :attempts, :max_attempts, :last_error,
    :last_response, :reason, :lease_owner, :lease_expires_at, :account_key
);

-- name: operation_get
SELECT * FROM operations WHERE tenant_id = :tenant_id AND id = :id;

-- name: operation_update
UPDATE operations SET
    connector_id = :connector_id, kind = :kind, created_at = :created_at,
    updated_at = :updated_at, next_attempt_at = :next_attempt_at,
    account_uid = :account_uid, identity_id = :identity_id, changes = :changes,
    status = :status, attempts = :attempts, max_attempts = :max_attempts,
    last_error = :last_error, last_response = :last_response, reason = :reason,
    lease_owner = :lease_owner, lease_expires_at = :lease_expires_at,
    account_key = :account_key
WHERE tenant_id = :tenant_id AND id = :id;

-- name: operation_ack
-- the lease fence: only the worker holding the operation records its outcome
UPDATE operations SET
    connector_id = :connector_id, kind = :kind, created_at = :created_at,
    updated_at = :updated_at, next_attempt_at = :next_attempt_at,
    account_uid = :account_uid, identity_id = :identity_id, changes = :changes,
    status = :status, attempts = :attempts, max_attempts = :max_attempts,
    last_error = :last_error, last_response = :last_response, reason = :reason,
    lease_owner = :lease_owner, lease_expires_at = :lease_expires_at,
    account_key = :account_key
WHERE tenant_id = :tenant_id AND id = :id
  AND status = 'in_progress' AND lease_owner = :owner;

-- name: operation_list
SELECT * FROM operations
WHERE tenant_id = :tenant_id AND seq > :after_seq
  AND (:connector_id IS NULL OR connector_id = :connector_id)
  AND (:statuses IS NULL OR status IN (SELECT value FROM json_each(:statuses)))
ORDER BY seq
LIMIT :limit;

-- name: operation_dead_letter
UPDATE operations SET
    status = 'dead', last_error = :reason, updated_at = :now,
    lease_owner = NULL, lease_expires_at = NULL
WHERE tenant_id = :tenant_id AND connector_id = :connector_id
  AND status IN ('pending', 'in_progress', 'retrying');

-- name: operation_stats
SELECT connector_id, status, count(*) AS n, min(created_at) AS oldest
FROM operations
WHERE tenant_id = :tenant_id
  AND status IN ('pending', 'in_progress', 'retrying', 'dead')
GROUP BY connector_id, status;

-- name: operation_claim_due
-- Due operations of any tenant, oldest seq first (operations_queue, in seq order): not of
-- a quarantined or disabled connector, and none with an earlier unfinished operation of
-- its account (operations_account). The first status term repeats the index's WHERE so
-- that the partial index can be used. BEGIN IMMEDIATE makes this unit of work the only
-- writer, so no row locking is needed.
UPDATE operations SET
    status = 'in_progress', lease_owner = :owner, lease_expires_at = :lease_expires_at
WHERE seq IN (
    SELECT o.seq FROM operations AS o
    WHERE o.status IN ('pending', 'retrying', 'in_progress')
      AND ((o.status IN ('pending', 'retrying') AND o.next_attempt_at <= :now)
           OR (o.status = 'in_progress'
               AND (o.lease_expires_at IS NULL OR o.lease_expires_at < :now)))
      AND NOT EXISTS (
        SELECT 1 FROM connector_health AS h
        WHERE h.tenant_id = o.tenant_id AND h.connector_id = o.connector_id
          AND h.quarantined_until > :now)
      AND NOT EXISTS (
        SELECT 1 FROM connectors AS c
        WHERE c.tenant_id = o.tenant_id AND c.id = o.connector_id AND c.enabled = 0)
      AND NOT EXISTS (
        SELECT 1 FROM operations AS e
        WHERE e.tenant_id = o.tenant_id AND e.connector_id = o.connector_id
          AND e.account_key = o.account_key AND e.seq < o.seq
          AND e.status IN ('pending', 'retrying', 'in_progress', 'dead'))
    ORDER BY o.seq
    LIMIT :limit
)
RETURNING *;

-- name: operation_latest_for_account
SELECT * FROM operations
WHERE tenant_id = :tenant_id AND connector_id = :connector_id AND account_key = :account_key
ORDER BY seq DESC
LIMIT 1;

-- name: operation_lock_pending
-- BEGIN IMMEDIATE: nobody else writes, nothing to lock.
SELECT * FROM operations WHERE seq = :seq AND status = 'pending';

-- name: operation_by_seq
SELECT * FROM operations WHERE seq = :seq;

-- name: operation_count_behind
SELECT count(*) AS n FROM operations
WHERE tenant_id = :tenant_id AND connector_id = :connector_id AND account_key = :account_key
  AND seq > :seq AND status IN ('pending', 'retrying', 'in_progress', 'dead');

-- name: operation_quarantined
SELECT connector_id, quarantined_until FROM connector_health
WHERE tenant_id = :tenant_id AND quarantined_until > :now;

-- name: health_get
SELECT * FROM connector_health WHERE tenant_id = :tenant_id AND connector_id = :connector_id;

-- name: health_put
-- Nothing is written for a connector that does not exist (any more).
INSERT INTO connector_health (tenant_id, connector_id, consecutive_failures, quarantined_until)
SELECT :tenant_id, :connector_id, :consecutive_failures, :quarantined_until
WHERE EXISTS (SELECT 1 FROM connectors WHERE tenant_id = :tenant_id AND id = :connector_id)
ON CONFLICT (tenant_id, connector_id) DO UPDATE SET
    consecutive_failures = excluded.consecutive_failures,
    quarantined_until = excluded.quarantined_until;

-- name: sync_token_get
SELECT * FROM sync_tokens WHERE tenant_id = :tenant_id AND connector_id = :connector_id;

-- name: sync_token_put
INSERT INTO sync_tokens (tenant_id, connector_id, token, updated_at)
VALUES (:tenant_id, :connector_id, :token, :updated_at)
ON CONFLICT (tenant_id, connector_id) DO UPDATE SET
    token = excluded.token, updated_at = excluded.updated_at;

-- name: sync_token_delete
DELETE FROM sync_tokens WHERE tenant_id = :tenant_id AND connector_id = :connector_id;

-- name: identity_insert
INSERT INTO identities (tenant_id, id, attributes, created_at, updated_at, enabled, version)
VALUES (:tenant_id, :id, :attributes, :created_at, :updated_at, :enabled, :version)
ON CONFLICT DO NOTHING
RETURNING id;

-- name: identity_insert_bulk
-- The batch path (add_many, executed for many rows): a taken id fails the whole batch.
INSERT INTO identities (tenant_id, id, attributes, created_at, updated_at, enabled, version)
VALUES (:tenant_id, :id, :attributes, :created_at, :updated_at, :enabled, :version);

-- name: identity_page_all
-- Every identity of every tenant, in pages (the migration rebuilding value keys).
SELECT * FROM identities
WHERE :after_tenant IS NULL OR (tenant_id, id) > (:after_tenant, :after_id)
ORDER BY tenant_id, id
LIMIT :limit;

-- name: identity_values_insert_bulk
INSERT INTO identity_values (tenant_id, attribute, value_key, identity_id)
VALUES (:tenant_id, :attribute, :value_key, :identity_id);

-- name: identity_values_delete
DELETE FROM identity_values WHERE tenant_id = :tenant_id AND identity_id = :identity_id;

-- name: identity_get
SELECT * FROM identities WHERE tenant_id = :tenant_id AND id = :id;

-- name: identity_get_many
SELECT * FROM identities
WHERE tenant_id = :tenant_id AND id IN (SELECT value FROM json_each(:ids));

-- name: identity_find
SELECT v.value_key AS value_key, i.*
FROM identity_values AS v
JOIN identities AS i ON i.tenant_id = v.tenant_id AND i.id = v.identity_id
WHERE v.tenant_id = :tenant_id AND v.attribute = :attribute
  AND v.value_key IN (SELECT value FROM json_each(:value_keys))
ORDER BY v.value_key, i.id;

-- name: identity_page_by_id
SELECT * FROM identities
WHERE tenant_id = :tenant_id AND id >= :from_id
ORDER BY id
LIMIT :limit;

-- name: identity_version
SELECT version FROM identities WHERE tenant_id = :tenant_id AND id = :id;

-- name: identity_update
UPDATE identities SET
    attributes = :attributes, created_at = :created_at, updated_at = :updated_at,
    enabled = :enabled, version = :version
WHERE tenant_id = :tenant_id AND id = :id AND version = :expected_version;

-- name: identity_delete
DELETE FROM identities WHERE tenant_id = :tenant_id AND id = :id;

-- name: identity_without_live_account
-- Reconciliation pass 3: walks identities_tenant_created, probes shadows_identity_live.
SELECT * FROM identities AS i
WHERE i.tenant_id = :tenant_id AND i.enabled = 1
  AND (i.created_at, i.id) > (:after_time, :after_id)
  AND NOT EXISTS (
    SELECT 1 FROM shadows AS s
    WHERE s.tenant_id = i.tenant_id AND s.connector_id = :connector_id
      AND s.identity_id = i.id AND s.situation <> 'deleted'
  )
ORDER BY i.created_at, i.id
LIMIT :limit;

-- name: identity_list
SELECT * FROM identities
WHERE tenant_id = :tenant_id
  AND (created_at, id) > (:after_time, :after_id)
  AND (:enabled IS NULL OR enabled = :enabled)
ORDER BY created_at, id
LIMIT :limit;

-- name: migrations_table
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER NOT NULL PRIMARY KEY,
    applied_at  INTEGER NOT NULL
) STRICT;

-- name: migrations_applied
SELECT version FROM schema_migrations ORDER BY version;

-- name: migration_record
INSERT INTO schema_migrations (version, applied_at) VALUES (:version, :applied_at);
