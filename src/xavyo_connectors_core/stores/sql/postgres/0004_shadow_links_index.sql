-- Reconciliation stamps every account's shadow with the run (last_run_id, last_seen_at).
-- shadows_last_run served no query (pass 2 asks for last_run_id IS DISTINCT FROM the run,
-- which walks the primary key) and made every stamp rewrite an index entry.
DROP INDEX IF EXISTS shadows_last_run;
-- Pass 3 asks which identities have a live (not deleted) account: with the situation in
-- the index that question never reads the table.
CREATE INDEX shadows_identity_live ON shadows (tenant_id, connector_id, identity_id, situation);
DROP INDEX IF EXISTS shadows_identity;
-- Stamps (last_run_id, last_seen_at) touch no indexed column: with room left in each page
-- PostgreSQL rewrites those rows in place (HOT) instead of adding index entries.
ALTER TABLE shadows SET (fillfactor = 80);
