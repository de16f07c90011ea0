-- The claim's "earlier unfinished operation of the same account" probe must use
-- operations_account. On a table without statistics (a new store, a burst of enqueues
-- before ANALYZE) the planner preferred this narrower index on (tenant_id, connector_id,
-- status) and scanned every operation of the connector per candidate. operations_account
-- (tenant_id, connector_id, account_key, seq) serves its queries through its prefix.
DROP INDEX IF EXISTS operations_connector;
