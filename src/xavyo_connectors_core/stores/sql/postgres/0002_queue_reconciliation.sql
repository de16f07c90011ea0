-- xavyo-connectors store schema, version 2 (PostgreSQL): the provisioning queue's order
-- and quarantine, reconciliation's resolving and plan staleness, loose identity value keys.

-- Plan-then-apply: the account's attributes hash when the discrepancy was found.
ALTER TABLE discrepancies ADD COLUMN account_hash text;

-- resolve_absent: the open discrepancies of a connector, and a run's by what they are about.
CREATE INDEX discrepancies_open ON discrepancies (tenant_id, connector_id)
    WHERE status = 'open';
CREATE INDEX discrepancies_subject
    ON discrepancies (tenant_id, run_id, situation, account_uid, identity_id);

-- The account an operation acts on: 'i:<identity id>', else 'u:<account uid>' (computed by
-- the store on every write, as provisioning.account_key). Existing rows are filled here.
ALTER TABLE operations ADD COLUMN account_key text COLLATE "C";
UPDATE operations SET account_key = CASE
    WHEN identity_id IS NOT NULL THEN 'i:' || identity_id::text
    ELSE 'u:' || coalesce(account_uid, 'None')
END;
ALTER TABLE operations ALTER COLUMN account_key SET NOT NULL;

-- claim_due scans the queue in seq order (what is pending, retrying or in progress) ...
CREATE INDEX operations_queue ON operations (seq)
    WHERE status IN ('pending', 'retrying', 'in_progress');
-- ... and looks for an earlier unfinished operation of the same account (the same index
-- serves latest_for_account and count_behind).
CREATE INDEX operations_account ON operations (tenant_id, connector_id, account_key, seq);

-- Consecutive transient failures and quarantine of a target connector (goes with it).
CREATE TABLE connector_health (
    tenant_id               uuid        NOT NULL,
    connector_id            uuid        NOT NULL,
    consecutive_failures    bigint      NOT NULL,
    quarantined_until       timestamptz,
    PRIMARY KEY (tenant_id, connector_id),
    FOREIGN KEY (tenant_id, connector_id)
        REFERENCES connectors (tenant_id, id) ON DELETE CASCADE
);

-- find_by_values matches loosely now (strip + casefold of the value's text): the value
-- keys change. The rows are rebuilt from identities by the store right after this script,
-- in the same transaction (DATA_MIGRATIONS in stores/_sql.py).
DELETE FROM identity_values;
