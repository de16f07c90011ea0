"""Store adapters of the ports: in-memory, SQLite and PostgreSQL. SQL lives here only."""
