"""Developer sessions: tests, lint, typecheck, bench."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "typecheck", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite, including the PostgreSQL, SQLite and CSV integration tests."""
    session.install("-e", ".[dev]")
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "src", "tests", "benchmarks")
    session.run("ruff", "format", "--check", "src", "tests", "benchmarks")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "src")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (never part of CI): python benchmarks/<name>.py."""
    session.install("-e", ".[dev]")
    default = ["benchmarks/sync.py", "benchmarks/reconcile.py", "benchmarks/ldap_read.py"]
    for script in session.posargs or default:
        session.run("python", script)
