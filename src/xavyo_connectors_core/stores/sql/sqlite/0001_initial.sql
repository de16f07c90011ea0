-- xavyo-connectors store schema, version 1 (SQLite).
--
-- Conventions: UUIDs are TEXT (lowercase, hyphenated), datetimes are INTEGER
-- microseconds since the Unix epoch (UTC), booleans INTEGER 0/1, nested parts JSON TEXT.
-- Text keys use the BINARY collation, i.e. code point order, like Python and PostgreSQL
-- "C". Runs, discrepancies and operations have no foreign key to connectors: they
-- outlive their connector (SPEC §6).

CREATE TABLE tenants (
    id          TEXT    NOT NULL PRIMARY KEY,
    slug        TEXT    NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id          TEXT    NOT NULL PRIMARY KEY,
    tenant_id   TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    digest      TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id);

CREATE TABLE connectors (
    tenant_id                   TEXT    NOT NULL,
    id                          TEXT    NOT NULL,
    name                        TEXT    NOT NULL,
    name_key                    TEXT    NOT NULL,
    type                        TEXT    NOT NULL,
    role                        TEXT    NOT NULL,
    config                      TEXT    NOT NULL,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL,
    description                 TEXT    NOT NULL,
    enabled                     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    secrets                     TEXT    NOT NULL,
    mappings                    TEXT    NOT NULL,
    correlation                 TEXT    NOT NULL,
    reactions                   TEXT    NOT NULL,
    scope                       TEXT,
    on_leave_scope              TEXT,
    sync_interval_seconds       INTEGER,
    max_deletions               INTEGER,
    max_deletion_ratio          REAL    NOT NULL,
    max_operations_per_second   REAL,
    max_attempts                INTEGER NOT NULL,
    retry_base_seconds          REAL    NOT NULL,
    retry_max_seconds           REAL    NOT NULL,
    last_test                   TEXT,
    schema_discovered_at        INTEGER,
    needs_attention             TEXT,
    version                     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name_key)
) STRICT;

CREATE INDEX connectors_tenant_created ON connectors (tenant_id, created_at, id);
CREATE INDEX connectors_created ON connectors (created_at, id);

CREATE TABLE schema_versions (
    tenant_id       TEXT    NOT NULL,
    connector_id    TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    schema          TEXT    NOT NULL,
    diff            TEXT    NOT NULL,
    discovered_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, connector_id, version),
    FOREIGN KEY (tenant_id, connector_id)
        REFERENCES connectors (tenant_id, id) ON DELETE CASCADE
) STRICT;

CREATE TABLE shadows (
    tenant_id       TEXT    NOT NULL,
    connector_id    TEXT    NOT NULL,
    uid             TEXT    NOT NULL CHECK (uid <> ''),
    name            TEXT    NOT NULL,
    attributes      TEXT    NOT NULL,
    attributes_hash TEXT    NOT NULL,
    situation       TEXT    NOT NULL,
    last_seen_at    INTEGER NOT NULL,
    identity_id     TEXT,
    last_run_id     TEXT,
    PRIMARY KEY (tenant_id, connector_id, uid),
    FOREIGN KEY (tenant_id, connector_id)
        REFERENCES connectors (tenant_id, id) ON DELETE CASCADE
) STRICT;

CREATE INDEX shadows_identity ON shadows (tenant_id, connector_id, identity_id);
CREATE INDEX shadows_last_run ON shadows (tenant_id, connector_id, last_run_id);

CREATE TABLE identities (
    tenant_id   TEXT    NOT NULL,
    id          TEXT    NOT NULL,
    attributes  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    version     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE INDEX identities_tenant_created ON identities (tenant_id, created_at, id);

-- One row per (identity, attribute, element value): find_by_values is an index lookup.
CREATE TABLE identity_values (
    tenant_id   TEXT NOT NULL,
    attribute   TEXT NOT NULL,
    value_key   TEXT NOT NULL,
    identity_id TEXT NOT NULL,
    PRIMARY KEY (tenant_id, attribute, value_key, identity_id),
    FOREIGN KEY (tenant_id, identity_id)
        REFERENCES identities (tenant_id, id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX identity_values_identity ON identity_values (tenant_id, identity_id);

CREATE TABLE runs (
    tenant_id           TEXT    NOT NULL,
    id                  TEXT    NOT NULL,
    connector_id        TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    mode                TEXT    NOT NULL,
    queued_at           INTEGER NOT NULL,
    status              TEXT    NOT NULL,
    progress            TEXT    NOT NULL,
    counts              TEXT    NOT NULL,
    actions             TEXT    NOT NULL,
    plan_run_id         TEXT,
    discrepancy_ids     TEXT,
    allow_mass_deletion INTEGER NOT NULL CHECK (allow_mass_deletion IN (0, 1)),
    scheduled_slot      INTEGER,
    error               TEXT,
    checkpoint          TEXT,
    cancel_requested    INTEGER NOT NULL CHECK (cancel_requested IN (0, 1)),
    lease_owner         TEXT,
    lease_expires_at    INTEGER,
    started_at          INTEGER,
    finished_at         INTEGER,
    PRIMARY KEY (tenant_id, id)
) STRICT;

-- A connector has at most one active run, of any kind (SPEC §3.6, §3.9).
CREATE UNIQUE INDEX runs_one_active ON runs (tenant_id, connector_id)
    WHERE status IN ('queued', 'running');
-- Scheduled syncs: one run per connector and interval slot, whoever schedules it.
CREATE UNIQUE INDEX runs_scheduled_slot ON runs (tenant_id, connector_id, scheduled_slot)
    WHERE scheduled_slot IS NOT NULL;
CREATE INDEX runs_claimable ON runs (queued_at, id) WHERE status IN ('queued', 'running');
CREATE INDEX runs_tenant_queued ON runs (tenant_id, queued_at, id);
CREATE INDEX runs_connector ON runs (tenant_id, connector_id, kind, status);

CREATE TABLE discrepancies (
    tenant_id       TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    run_id          TEXT    NOT NULL,
    connector_id    TEXT    NOT NULL,
    situation       TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    account_uid     TEXT,
    identity_id     TEXT,
    differences     TEXT    NOT NULL,
    explanation     TEXT    NOT NULL,
    reaction        TEXT    NOT NULL,
    outcome         TEXT    NOT NULL,
    operation_id    TEXT,
    status          TEXT    NOT NULL,
    error           TEXT,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE INDEX discrepancies_run ON discrepancies (tenant_id, run_id, created_at, id);

CREATE TABLE operations (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id           TEXT    NOT NULL,
    id                  TEXT    NOT NULL,
    connector_id        TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    next_attempt_at     INTEGER NOT NULL,
    account_uid         TEXT,
    identity_id         TEXT,
    changes             TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    attempts            INTEGER NOT NULL,
    max_attempts        INTEGER NOT NULL,
    last_error          TEXT,
    last_response       TEXT,
    reason              TEXT    NOT NULL,
    lease_owner         TEXT,
    lease_expires_at    INTEGER,
    UNIQUE (tenant_id, id)
) STRICT;

CREATE INDEX operations_tenant_seq ON operations (tenant_id, seq);
CREATE INDEX operations_connector ON operations (tenant_id, connector_id, status);
CREATE INDEX operations_tenant_status ON operations (tenant_id, status);

CREATE TABLE sync_tokens (
    tenant_id       TEXT    NOT NULL,
    connector_id    TEXT    NOT NULL,
    token           TEXT,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, connector_id),
    FOREIGN KEY (tenant_id, connector_id)
        REFERENCES connectors (tenant_id, id) ON DELETE CASCADE
) STRICT;
