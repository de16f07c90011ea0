-- xavyo-connectors store schema, version 1 (PostgreSQL).
--
-- Conventions: datetimes are timestamptz, nested parts are `json` (not jsonb: json keeps
-- the text, so numbers round-trip exactly), text keys that are paged or compared use the
-- "C" collation (code point order, like Python and SQLite). Runs, discrepancies and
-- operations have no foreign key to connectors: they outlive their connector (SPEC §6).

CREATE TABLE tenants (
    id          uuid        NOT NULL PRIMARY KEY,
    slug        text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL
);

CREATE TABLE api_tokens (
    id          uuid        NOT NULL PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    role        text        NOT NULL,
    digest      text        NOT NULL UNIQUE,
    name        text        NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE INDEX api_tokens_tenant ON api_tokens (tenant_id);

CREATE TABLE connectors (
    tenant_id                   uuid             NOT NULL,
    id                          uuid             NOT NULL,
    name                        text             NOT NULL,
    name_key                    text COLLATE "C" NOT NULL,
    type                        text             NOT NULL,
    role                        text             NOT NULL,
    config                      json             NOT NULL,
    created_at                  timestamptz      NOT NULL,
    updated_at                  timestamptz      NOT NULL,
    description                 text             NOT NULL,
    enabled                     boolean          NOT NULL,
    secrets                     json             NOT NULL,
    mappings                    json             NOT NULL,
    correlation                 json             NOT NULL,
    reactions                   json             NOT NULL,
    scope                       json,
    on_leave_scope              text,
    sync_interval_seconds       bigint,
    max_deletions               bigint,
    max_deletion_ratio          double precision NOT NULL,
    max_operations_per_second   double precision,
    max_attempts                bigint           NOT NULL,
    retry_base_seconds          double precision NOT NULL,
    retry_max_seconds           double precision NOT NULL,
    last_test                   json,
    schema_discovered_at        timestamptz,
    needs_attention             json,
    version                     bigint           NOT NULL,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT connectors_name_unique UNIQUE (tenant_id, name_key)
);

CREATE INDEX connectors_tenant_created ON connectors (tenant_id, created_at, id);
CREATE INDEX connectors_created ON connectors (created_at, id);

CREATE TABLE schema_versions (
    tenant_id       uuid        NOT NULL,
    connector_id    uuid        NOT NULL,
    version         bigint      NOT NULL,
    schema          json        NOT NULL,
    diff            json        NOT NULL,
    discovered_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, connector_id, version),
    FOREIGN KEY (tenant_id, connector_id)
        REFERENCES connectors (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE shadows (
    tenant_id       uuid             NOT NULL,
    connector_id    uuid             NOT NULL,
    uid             text COLLATE "C" NOT NULL CHECK (uid <> ''),
    name            text             NOT NULL,
    attributes      json             NOT NULL,
    attributes_hash text             NOT NULL,
    situation       text             NOT NULL,
    last_seen_at    timestamptz      NOT NULL,
    identity_id     uuid,
    last_run_id     uuid,
    PRIMARY KEY (tenant_id, connector_id, uid),
    FOREIGN KEY (tenant_id, connector_id)
        REFERENCES connectors (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX shadows_identity ON shadows (tenant_id, connector_id, identity_id);
CREATE INDEX shadows_last_run ON shadows (tenant_id, connector_id, last_run_id);

CREATE TABLE identities (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL,
    attributes  json        NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    enabled     boolean     NOT NULL,
    version     bigint      NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX identities_tenant_created ON identities (tenant_id, created_at, id);

-- One row per (identity, attribute, element value): find_by_values is an index lookup.
CREATE TABLE identity_values (
    tenant_id   uuid             NOT NULL,
    attribute   text COLLATE "C" NOT NULL,
    value_key   text COLLATE "C" NOT NULL,
    identity_id uuid             NOT NULL,
    PRIMARY KEY (tenant_id, attribute, value_key, identity_id),
    FOREIGN KEY (tenant_id, identity_id)
        REFERENCES identities (tenant_id, id) ON DELETE CASCADE
);

CREATE INDEX identity_values_identity ON identity_values (tenant_id, identity_id);

CREATE TABLE runs (
    tenant_id           uuid        NOT NULL,
    id                  uuid        NOT NULL,
    connector_id        uuid        NOT NULL,
    kind                text        NOT NULL,
    mode                text        NOT NULL,
    queued_at           timestamptz NOT NULL,
    status              text        NOT NULL,
    progress            json        NOT NULL,
    counts              json        NOT NULL,
    actions             json        NOT NULL,
    plan_run_id         uuid,
    discrepancy_ids     json,
    allow_mass_deletion boolean     NOT NULL,
    scheduled_slot      bigint,
    error               text,
    checkpoint          json,
    cancel_requested    boolean     NOT NULL,
    lease_owner         text,
    lease_expires_at    timestamptz,
    started_at          timestamptz,
    finished_at         timestamptz,
    PRIMARY KEY (tenant_id, id)
);

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
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL,
    run_id          uuid        NOT NULL,
    connector_id    uuid        NOT NULL,
    situation       text        NOT NULL,
    created_at      timestamptz NOT NULL,
    account_uid     text,
    identity_id     uuid,
    differences     json        NOT NULL,
    explanation     text        NOT NULL,
    reaction        text        NOT NULL,
    outcome         text        NOT NULL,
    operation_id    uuid,
    status          text        NOT NULL,
    error           text,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX discrepancies_run ON discrepancies (tenant_id, run_id, created_at, id);

CREATE TABLE operations (
    seq                 bigserial   PRIMARY KEY,
    tenant_id           uuid        NOT NULL,
    id                  uuid        NOT NULL,
    connector_id        uuid        NOT NULL,
    kind                text        NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    next_attempt_at     timestamptz NOT NULL,
    account_uid         text,
    identity_id         uuid,
    changes             json        NOT NULL,
    status              text        NOT NULL,
    attempts            bigint      NOT NULL,
    max_attempts        bigint      NOT NULL,
    last_error          text,
    last_response       text,
    reason              text        NOT NULL,
    lease_owner         text,
    lease_expires_at    timestamptz,
    UNIQUE (tenant_id, id)
);

CREATE INDEX operations_tenant_seq ON operations (tenant_id, seq);
CREATE INDEX operations_connector ON operations (tenant_id, connector_id, status);
CREATE INDEX operations_tenant_status ON operations (tenant_id, status);

CREATE TABLE sync_tokens (
    tenant_id       uuid        NOT NULL,
    connector_id    uuid        NOT NULL,
    token           text,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, connector_id),
    FOREIGN KEY (tenant_id, connector_id)
        REFERENCES connectors (tenant_id, id) ON DELETE CASCADE
);
