"""Store adapters of the ports: in-memory, SQLite and PostgreSQL. SQL lives here only.

``open_store`` picks the adapter from a URL. Adapters are imported when opened, so
importing this package never imports a database driver.
"""

from __future__ import annotations

from xavyo_connectors_core.ports import Store

__all__ = ["open_store"]


def open_store(url_or_path: str, *, migrate: bool = True) -> Store:
    """Open the store named by ``url_or_path``.

    - ``memory:`` — a fresh in-memory store (tests);
    - ``postgresql://…`` or ``postgres://…`` — a PostgreSQL store (needs the ``postgres``
      extra);
    - ``sqlite:///abs/path.db`` (also ``sqlite:////abs/path.db``) or a plain file path —
      a SQLite store.

    Args:
        url_or_path: where the store is.
        migrate: apply pending migrations when opening (SQL stores).

    Raises:
        ValueError: the URL names no known store.
        StoreUnavailable: the database cannot be reached or opened.
    """
    if url_or_path == "memory:":
        from xavyo_connectors_core.stores.memory import MemoryStore

        return MemoryStore()
    if url_or_path.startswith(("postgresql://", "postgres://")):
        from xavyo_connectors_core.stores.postgres import PostgresStore

        return PostgresStore(url_or_path, migrate=migrate)
    if url_or_path.startswith("sqlite:"):
        path = url_or_path.removeprefix("sqlite:").removeprefix("//")  # empty authority
        if path.startswith("/"):
            path = "/" + path.lstrip("/")  # sqlite:///abs and sqlite:////abs alike
        if not path or path == ":memory:":
            raise ValueError("a SQLite store needs a file path (use memory: for tests)")
        url_or_path = path
    elif "://" in url_or_path:
        raise ValueError("unknown store URL scheme (memory:, postgresql://, sqlite:///path)")
    from xavyo_connectors_core.stores.sqlite import SqliteStore

    return SqliteStore(url_or_path, migrate=migrate)
