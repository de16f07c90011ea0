"""The adapter package: no side effects on import, no database driver."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys, threading, logging
before = set(sys.modules)
threads = threading.active_count()
handlers = list(logging.getLogger().handlers)
import xavyo_connectors_starlette
drivers = [m for m in ("sqlite3", "_sqlite3", "psycopg", "psycopg_pool", "ldap3")
           if m in sys.modules and m not in before]
print(json.dumps({
    "drivers": drivers,
    "threads": threading.active_count() - threads,
    "handlers": len(logging.getLogger().handlers) - len(handlers),
}))
"""


class TestImport:
    def test_import_has_no_side_effects_and_no_driver(self, tmp_path: Path) -> None:
        """Importing creates no file, thread or log handler and imports no DB driver."""
        result = subprocess.run(
            [sys.executable, "-c", PROBE],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        report = json.loads(result.stdout)
        assert report == {"drivers": [], "threads": 0, "handlers": 0}
        assert list(tmp_path.iterdir()) == []
        assert result.stderr == ""

    def test_source_imports_no_driver(self) -> None:
        """No module of the adapter mentions a database driver import."""
        import xavyo_connectors_starlette

        root = Path(xavyo_connectors_starlette.__file__).parent
        for source in root.rglob("*.py"):
            text = source.read_text(encoding="utf-8")
            for driver in ("sqlite3", "psycopg", "ldap3"):
                assert f"import {driver}" not in text, source
                assert f"from {driver}" not in text, source
