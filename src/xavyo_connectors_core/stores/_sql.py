"""The repositories of the SQL stores, written once for SQLite and PostgreSQL.

Each dialect ships its SQL as package data (``sql/<dialect>/queries.sql`` with
``-- name: <name>`` headers, procrastinate-style, and numbered migrations); this module
runs those named queries through a ``SqlSession`` and turns rows into domain objects with
the ``Codec`` of ``_common``. What differs between the drivers (placeholders, arrays,
savepoints, error translation, how ``seq`` is reserved) sits behind the session.
"""

from __future__ import annotations

import abc
import builtins
import itertools
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib import resources
from typing import Any, Generic, Self, TypeVar
from uuid import UUID

import attrs

from xavyo_connectors_core.converter import converter
from xavyo_connectors_core.errors import (
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    VersionConflict,
)
from xavyo_connectors_core.mappings import in_scope
from xavyo_connectors_core.model import (
    ApiToken,
    Connector,
    ConnectorHealth,
    Discrepancy,
    DiscrepancyStatus,
    Identity,
    Operation,
    OperationStatus,
    Page,
    Role,
    Run,
    RunKind,
    RunStatus,
    SchemaVersion,
    ScopeCondition,
    Shadow,
    Situation,
    SyncToken,
    Tenant,
)
from xavyo_connectors_core.pagination import check_limit
from xavyo_connectors_core.ports import (
    ApiTokenRepository,
    ConnectorRepository,
    DiscrepancyRepository,
    OperationRepository,
    ReferenceIdentityStore,
    RunRepository,
    SchemaRepository,
    ShadowRepository,
    SyncTokenRepository,
    TenantRepository,
)
from xavyo_connectors_core.stores._common import (
    MAX_UUID,
    NIL_UUID,
    Codec,
    Dialect,
    account_key,
    batches,
    candidates_by_value,
    chunks,
    identity_value_rows,
    int_cursor,
    keys_of_values,
    make_page,
    read_int_cursor,
    read_text_cursor,
    read_time_id_cursor,
    text_cursor,
    time_id_cursor,
)

# The order of ``UUID.__lt__`` (it compares ``.int``), without a Python call per comparison.
UUID_ORDER = operator.attrgetter("int")

T = TypeVar("T")
Row = dict[str, Any]

BATCH = 1000
"""Largest number of keys sent in one ``IN``/``ANY`` list (and of rows in one bulk)."""

MAX_INT64 = (1 << 63) - 1

# --------------------------------------------------------------------------- package data

_NAME_RE = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


def load_queries(dialect: str) -> dict[str, str]:
    """The named queries of ``sql/<dialect>/queries.sql``."""
    text = _sql_dir(dialect).joinpath("queries.sql").read_text(encoding="utf-8")
    parts = _NAME_RE.split(text)
    queries: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        lines = [line for line in body.strip().splitlines() if not line.startswith("--")]
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """The numbered migrations of ``sql/<dialect>/``, in order: ``[(version, sql)]``."""
    found: list[tuple[int, str]] = []
    for entry in _sql_dir(dialect).iterdir():
        match = re.fullmatch(r"(\d{4})_[a-z0-9_]+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    return found


def _sql_dir(dialect: str) -> Any:
    return resources.files("xavyo_connectors_core.stores").joinpath("sql", dialect)


# --------------------------------------------------------------------------- sessions


class SqlDialect(Dialect, abc.ABC):
    """A ``Dialect`` plus the keyset sentinels and list parameters of one database."""

    min_time: Any
    max_time: Any

    @abc.abstractmethod
    def dump_list(self, values: Sequence[Any]) -> Any:
        """A list parameter (of str or UUID values) for ``IN``/``ANY``."""


class SqlSession(abc.ABC):
    """One open transaction on one connection, running named queries.

    Driver errors are translated here (at the edge): a uniqueness violation becomes
    ``Conflict``, a foreign-key violation ``NotFound``, other integrity errors
    ``InvalidInput``, a lost or busy database ``StoreUnavailable``. Messages never carry
    row contents.
    """

    def __init__(self, queries: Mapping[str, str], dialect: SqlDialect) -> None:
        self.queries = queries
        self.dialect = dialect
        self._savepoints = itertools.count(1)

    @abc.abstractmethod
    def one(self, name: str, params: Mapping[str, Any]) -> Row | None: ...

    @abc.abstractmethod
    def all(self, name: str, params: Mapping[str, Any]) -> builtins.list[Row]: ...

    @abc.abstractmethod
    def run(self, name: str, params: Mapping[str, Any]) -> int:
        """Execute a statement; return the number of rows it changed."""

    @abc.abstractmethod
    def many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Execute a statement once per parameter set, as one batch."""

    def bulk(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert many rows with a ``bulk`` query, as few statements as the database allows.

        Here (SQLite): ``many``. PostgreSQL sends the rows as one array per column, to a
        query that unnests them: one statement for the whole batch.
        """
        if rows:
            self.many(name, rows)

    @abc.abstractmethod
    def next_seqs(self, count: int) -> builtins.list[int]:
        """Reserve ``count`` increasing operation sequence numbers."""

    @abc.abstractmethod
    def raw(self, sql: str) -> None:
        """Execute fixed, parameterless SQL (savepoints)."""

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @contextmanager
    def atomic(self, *, conflict: str | None = None, missing: str | None = None) -> Iterator[None]:
        """Run a block in a savepoint: on error it has no effect and the transaction lives.

        ``conflict`` and ``missing`` replace the generic messages of a uniqueness or a
        foreign-key violation inside the block.
        """
        name = f"xv_sp_{next(self._savepoints)}"
        self.raw(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException as exc:
            self.raw(f"ROLLBACK TO SAVEPOINT {name}")
            self.raw(f"RELEASE SAVEPOINT {name}")
            if type(exc) is Conflict and conflict is not None:
                raise Conflict(conflict) from exc.__cause__
            if type(exc) is NotFound and missing is not None:
                raise NotFound(missing) from exc.__cause__
            raise
        else:
            self.raw(f"RELEASE SAVEPOINT {name}")


class Codecs:
    """One codec per stored class, for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.tenant = Codec(Tenant, dialect)
        self.api_token = Codec(ApiToken, dialect)
        self.connector = Codec(Connector, dialect)
        self.schema = Codec(SchemaVersion, dialect)
        self.shadow = Codec(Shadow, dialect)
        self.identity = Codec(Identity, dialect)
        self.run = Codec(Run, dialect)
        self.discrepancy = Codec(Discrepancy, dialect)
        self.operation = Codec(Operation, dialect)
        self.health = Codec(ConnectorHealth, dialect)
        self.sync_token = Codec(SyncToken, dialect)


class _Repo(Generic[T]):
    def __init__(self, session: SqlSession, codec: Codec[T]) -> None:
        self._s = session
        self._codec = codec
        self._d = session.dialect

    def _uuid(self, value: UUID | None) -> Any:
        return None if value is None else self._d.dump_uuid(value)

    def _time(self, value: datetime) -> Any:
        return self._d.dump_time(value)

    def _load(self, row: Row | None) -> T | None:
        return None if row is None else self._codec.load(row)

    def _load_all(self, rows: Iterable[Row]) -> builtins.list[T]:
        load = self._codec.load
        return [load(row) for row in rows]

    def _after(self, cursor: str | None) -> dict[str, Any]:
        """Keyset parameters for an ascending (time, id) list."""
        if cursor is None:
            return {"after_time": self._d.min_time, "after_id": self._uuid(NIL_UUID)}
        when, ident = read_time_id_cursor(cursor)
        return {"after_time": self._time(when), "after_id": self._uuid(ident)}


# --------------------------------------------------------------------------- tenancy


class SqlTenants(_Repo[Tenant]):
    def add(self, tenant: Tenant) -> None:
        params = self._codec.params(tenant)
        if self._s.one("tenant_insert", params) is None:
            if self._s.one("tenant_get_by_slug", {"slug": tenant.slug}) is not None:
                raise Conflict("a tenant with this slug already exists")
            raise Conflict("a tenant with this id already exists")

    def get(self, tenant_id: UUID) -> Tenant:
        found = self._load(self._s.one("tenant_get", {"id": self._uuid(tenant_id)}))
        if found is None:
            raise NotFound("tenant not found")
        return found

    def get_by_slug(self, slug: str) -> Tenant:
        found = self._load(self._s.one("tenant_get_by_slug", {"slug": slug}))
        if found is None:
            raise NotFound("tenant not found")
        return found

    def list(self) -> Sequence[Tenant]:
        return self._load_all(self._s.all("tenant_list", {}))


class SqlApiTokens(_Repo[ApiToken]):
    def add(self, token: ApiToken) -> None:
        if self._s.one("api_token_insert", self._codec.params(token)) is None:
            raise Conflict("an API token with this id or digest already exists")

    def get_by_digest(self, digest: str) -> ApiToken:
        found = self._load(self._s.one("api_token_get_by_digest", {"digest": digest}))
        if found is None:
            raise NotFound("API token not found")
        return found


# --------------------------------------------------------------------------- connectors


class SqlConnectors(_Repo[Connector]):
    def _params(self, connector: Connector) -> dict[str, Any]:
        params = self._codec.params(connector)
        params["name_key"] = connector.name.casefold()
        return params

    def _key(self, tenant_id: UUID, connector_id: UUID) -> dict[str, Any]:
        return {"tenant_id": self._uuid(tenant_id), "id": self._uuid(connector_id)}

    def add(self, connector: Connector) -> None:
        params = self._params(connector)
        if self._s.one("connector_insert", params) is None:
            if self._s.one("connector_name_taken", params) is not None:
                raise Conflict("a connector with this name already exists")
            raise Conflict("a connector with this id already exists")

    def get(self, tenant_id: UUID, connector_id: UUID) -> Connector:
        found = self._load(self._s.one("connector_get", self._key(tenant_id, connector_id)))
        if found is None:
            raise NotFound("connector not found")
        return found

    def update(self, connector: Connector) -> None:
        params = self._params(connector)
        params["expected_version"] = connector.version - 1
        with self._s.atomic(conflict="a connector with this name already exists"):
            changed = self._s.run("connector_update", params)
        if changed == 0:
            key = self._key(connector.tenant_id, connector.id)
            if self._s.one("connector_version", key) is None:
                raise NotFound("connector not found")
            raise VersionConflict("the connector was changed since it was read")

    def delete(self, tenant_id: UUID, connector_id: UUID) -> None:
        if self._s.run("connector_delete", self._key(tenant_id, connector_id)) == 0:
            raise NotFound("connector not found")

    def list(
        self,
        tenant_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        type: str | None = None,
        role: Role | None = None,
        enabled: bool | None = None,
    ) -> Page[Connector]:
        check_limit(limit)
        params = {
            "tenant_id": self._uuid(tenant_id),
            "type": type,
            "role": None if role is None else role.value,
            "enabled": enabled,
            "limit": limit + 1,
            **self._after(cursor),
        }
        items = self._load_all(self._s.all("connector_list", params))
        return make_page(items, limit, lambda c: time_id_cursor(c.created_at, c.id))

    def iter_all(self) -> Iterator[Connector]:
        cursor: str | None = None
        while True:
            params = {"limit": BATCH, **self._after(cursor)}
            items = self._load_all(self._s.all("connector_list_all", params))
            yield from items
            if len(items) < BATCH:
                return
            cursor = time_id_cursor(items[-1].created_at, items[-1].id)


class SqlSchemas(_Repo[SchemaVersion]):
    def add(self, version: SchemaVersion) -> None:
        with self._s.atomic(
            conflict="this schema version already exists", missing="connector not found"
        ):
            self._s.run("schema_insert", self._codec.params(version))

    def latest(self, tenant_id: UUID, connector_id: UUID) -> SchemaVersion | None:
        page = self.list(tenant_id, connector_id, limit=1)
        return page.items[0] if page.items else None

    def list(
        self, tenant_id: UUID, connector_id: UUID, *, limit: int, cursor: str | None = None
    ) -> Page[SchemaVersion]:
        check_limit(limit)
        params = {
            "tenant_id": self._uuid(tenant_id),
            "connector_id": self._uuid(connector_id),
            "before_version": MAX_INT64 if cursor is None else read_int_cursor(cursor),
            "limit": limit + 1,
        }
        items = self._load_all(self._s.all("schema_list", params))
        return make_page(items, limit, lambda v: int_cursor(v.version))

    def delete_for_connector(self, tenant_id: UUID, connector_id: UUID) -> None:
        params = {"tenant_id": self._uuid(tenant_id), "connector_id": self._uuid(connector_id)}
        self._s.run("schema_delete_for_connector", params)


# --------------------------------------------------------------------------- shadows


def check_uid(uid: str) -> None:
    if not uid:
        raise InvalidInput([FieldError("uid", "must not be empty")])


class SqlShadows(_Repo[Shadow]):
    def _scope(self, tenant_id: UUID, connector_id: UUID) -> dict[str, Any]:
        return {"tenant_id": self._uuid(tenant_id), "connector_id": self._uuid(connector_id)}

    def upsert_many(self, shadows: Iterable[Shadow]) -> None:
        params = self._codec.params
        rows: dict[tuple[UUID, UUID, str], dict[str, Any]] = {}
        for shadow in shadows:
            check_uid(shadow.uid)
            rows[(shadow.tenant_id, shadow.connector_id, shadow.uid)] = params(shadow)  # last wins
        if rows:
            with self._s.atomic(missing="connector not found"):
                for batch in chunks(list(rows.values()), BATCH):
                    self._s.bulk("shadow_upsert_bulk", batch)

    def get(self, tenant_id: UUID, connector_id: UUID, uid: str) -> Shadow:
        found = self.get_many(tenant_id, connector_id, [uid]).get(uid)
        if found is None:
            raise NotFound("account not found")
        return found

    def get_many(
        self, tenant_id: UUID, connector_id: UUID, uids: Iterable[str]
    ) -> dict[str, Shadow]:
        wanted = sorted(set(uids))
        out: dict[str, Shadow] = {}
        for batch in chunks(wanted, BATCH):
            params = {**self._scope(tenant_id, connector_id), "uids": self._d.dump_list(batch)}
            for shadow in self._load_all(self._s.all("shadow_get_many", params)):
                out[shadow.uid] = shadow
        return out

    def by_identities(
        self, tenant_id: UUID, connector_id: UUID, identity_ids: Iterable[UUID]
    ) -> dict[UUID, Shadow]:
        wanted = sorted(set(identity_ids), key=UUID_ORDER)
        out: dict[UUID, Shadow] = {}
        for batch in chunks(wanted, BATCH):
            ids = self._d.dump_list([self._uuid(i) for i in batch])
            params = {**self._scope(tenant_id, connector_id), "identity_ids": ids}
            for shadow in self._load_all(self._s.all("shadow_by_identities", params)):
                assert shadow.identity_id is not None
                out.setdefault(shadow.identity_id, shadow)
        return out

    def stamp_many(
        self,
        tenant_id: UUID,
        connector_id: UUID,
        uids: Iterable[str],
        run_id: UUID,
        seen_at: datetime,
    ) -> None:
        scope = {
            **self._scope(tenant_id, connector_id),
            "run_id": self._uuid(run_id),
            "seen_at": self._time(seen_at),
        }
        for batch in chunks(sorted(set(uids)), BATCH):
            self._s.run("shadow_stamp_many", {**scope, "uids": self._d.dump_list(batch)})

    def live_links(
        self, tenant_id: UUID, connector_id: UUID, identity_ids: Iterable[UUID]
    ) -> set[UUID]:
        out: set[UUID] = set()
        wanted = {self._uuid(i): i for i in identity_ids}
        for batch in chunks(sorted(wanted), BATCH):
            params = {
                **self._scope(tenant_id, connector_id),
                "identity_ids": self._d.dump_list(batch),
            }
            rows = self._s.all("shadow_live_links", params)
            out.update(wanted[row["identity_id"]] for row in rows)
        return out

    def delete_many(self, tenant_id: UUID, connector_id: UUID, uids: Iterable[str]) -> None:
        for batch in chunks(sorted(set(uids)), BATCH):
            params = {**self._scope(tenant_id, connector_id), "uids": self._d.dump_list(batch)}
            self._s.run("shadow_delete_many", params)

    def delete_for_connector(self, tenant_id: UUID, connector_id: UUID) -> None:
        self._s.run("shadow_delete_for_connector", self._scope(tenant_id, connector_id))

    def count(self, tenant_id: UUID, connector_id: UUID) -> int:
        row = self._s.one("shadow_count", self._scope(tenant_id, connector_id))
        return 0 if row is None else int(row["n"])

    def list(
        self,
        tenant_id: UUID,
        connector_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        situation: Situation | None = None,
        linked: bool | None = None,
    ) -> Page[Shadow]:
        check_limit(limit)
        params = {
            **self._scope(tenant_id, connector_id),
            "after_uid": "" if cursor is None else read_text_cursor(cursor),
            "situation": None if situation is None else situation.value,
            "linked": linked,
            "limit": limit + 1,
        }
        items = self._load_all(self._s.all("shadow_list", params))
        return make_page(items, limit, lambda s: text_cursor(s.uid))

    def iter_not_seen_in(
        self, tenant_id: UUID, connector_id: UUID, run_id: UUID, *, page_size: int
    ) -> Iterator[builtins.list[Shadow]]:
        if page_size < 1:
            raise InvalidInput([FieldError("page_size", "must be at least 1")])
        after = ""
        while True:
            params = {
                **self._scope(tenant_id, connector_id),
                "run_id": self._uuid(run_id),
                "after_uid": after,
                "limit": page_size,
            }
            items = self._load_all(self._s.all("shadow_not_seen", params))
            if items:
                yield items
            if len(items) < page_size:
                return
            after = items[-1].uid


# --------------------------------------------------------------------------- runs


class SqlRuns(_Repo[Run]):
    def _active(self, tenant_id: UUID, connector_id: UUID, exclude: UUID | None) -> Run | None:
        params = {
            "tenant_id": self._uuid(tenant_id),
            "connector_id": self._uuid(connector_id),
            "exclude_id": self._uuid(exclude),
        }
        return self._load(self._s.one("run_active", params))

    def _conflict(self, run: Run) -> Conflict | None:
        """Why ``run`` cannot be stored next to the others, if it cannot."""
        if run.status.active:
            active = self._active(run.tenant_id, run.connector_id, run.id)
            if active is not None:
                return Conflict(
                    "the connector already has a queued or running run", run_id=active.id
                )
        if run.scheduled_slot is not None:
            params = {
                "tenant_id": self._uuid(run.tenant_id),
                "connector_id": self._uuid(run.connector_id),
                "scheduled_slot": run.scheduled_slot,
                "exclude_id": self._uuid(run.id),
            }
            taken = self._load(self._s.one("run_slot_taken", params))
            if taken is not None:
                return Conflict("a run is already scheduled for this slot", run_id=taken.id)
        return None

    def add(self, run: Run) -> None:
        if self._s.one("run_insert", self._codec.params(run)) is None:
            raise self._conflict(run) or Conflict("a run with this id already exists")

    def get(self, tenant_id: UUID, run_id: UUID) -> Run:
        params = {"tenant_id": self._uuid(tenant_id), "id": self._uuid(run_id)}
        found = self._load(self._s.one("run_get", params))
        if found is None:
            raise NotFound("run not found")
        return found

    def update(self, run: Run) -> None:
        try:
            with self._s.atomic():
                changed = self._s.run("run_update", self._codec.params(run))
        except Conflict as exc:
            raise self._conflict(run) or exc from exc
        if changed == 0:
            raise NotFound("run not found")

    def active_for_connector(self, tenant_id: UUID, connector_id: UUID) -> Run | None:
        return self._active(tenant_id, connector_id, None)

    def last_finished(self, tenant_id: UUID, connector_id: UUID, kind: RunKind) -> Run | None:
        params = {
            "tenant_id": self._uuid(tenant_id),
            "connector_id": self._uuid(connector_id),
            "kind": kind.value,
        }
        return self._load(self._s.one("run_last_finished", params))

    def last_queued(self, tenant_id: UUID, connector_id: UUID, kind: RunKind) -> Run | None:
        params = {
            "tenant_id": self._uuid(tenant_id),
            "connector_id": self._uuid(connector_id),
            "kind": kind.value,
        }
        return self._load(self._s.one("run_last_queued", params))

    def list(
        self,
        tenant_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        kind: RunKind | None = None,
        connector_id: UUID | None = None,
        status: RunStatus | None = None,
    ) -> Page[Run]:
        check_limit(limit)
        if cursor is None:
            before = {"before_time": self._d.max_time, "before_id": self._uuid(MAX_UUID)}
        else:
            when, ident = read_time_id_cursor(cursor)
            before = {"before_time": self._time(when), "before_id": self._uuid(ident)}
        params = {
            "tenant_id": self._uuid(tenant_id),
            "kind": None if kind is None else kind.value,
            "connector_id": self._uuid(connector_id),
            "status": None if status is None else status.value,
            "limit": limit + 1,
            **before,
        }
        items = self._load_all(self._s.all("run_list", params))
        return make_page(items, limit, lambda r: time_id_cursor(r.queued_at, r.id))

    def claim(self, owner: str, now: datetime, lease_seconds: float) -> Run | None:
        params = {
            "owner": owner,
            "now": self._time(now),
            "lease_expires_at": self._time(now + timedelta(seconds=lease_seconds)),
        }
        return self._load(self._s.one("run_claim", params))


# --------------------------------------------------------------------------- discrepancies


class SqlDiscrepancies(_Repo[Discrepancy]):
    def add_many(self, discrepancies: Iterable[Discrepancy]) -> None:
        rows = [self._codec.params(d) for d in discrepancies]
        if rows:
            with self._s.atomic(conflict="a discrepancy with this id already exists"):
                for batch in chunks(rows, BATCH):
                    self._s.bulk("discrepancy_insert_bulk", batch)

    def get(self, tenant_id: UUID, discrepancy_id: UUID) -> Discrepancy:
        params = {"tenant_id": self._uuid(tenant_id), "id": self._uuid(discrepancy_id)}
        found = self._load(self._s.one("discrepancy_get", params))
        if found is None:
            raise NotFound("discrepancy not found")
        return found

    def update(self, discrepancy: Discrepancy) -> None:
        if self._s.run("discrepancy_update", self._codec.params(discrepancy)) == 0:
            raise NotFound("discrepancy not found")

    def list(
        self,
        tenant_id: UUID,
        run_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        situation: Situation | None = None,
        status: DiscrepancyStatus | None = None,
    ) -> Page[Discrepancy]:
        check_limit(limit)
        params = {
            "tenant_id": self._uuid(tenant_id),
            "run_id": self._uuid(run_id),
            "situation": None if situation is None else situation.value,
            "status": None if status is None else status.value,
            "limit": limit + 1,
            **self._after(cursor),
        }
        items = self._load_all(self._s.all("discrepancy_list", params))
        return make_page(items, limit, lambda d: time_id_cursor(d.created_at, d.id))

    def resolve_absent(self, tenant_id: UUID, connector_id: UUID, run_id: UUID) -> int:
        params = {
            "tenant_id": self._uuid(tenant_id),
            "connector_id": self._uuid(connector_id),
            "run_id": self._uuid(run_id),
        }
        return self._s.run("discrepancy_resolve_absent", params)


# --------------------------------------------------------------------------- operations


class SqlOperations(_Repo[Operation]):
    def __init__(
        self, session: SqlSession, codec: Codec[Operation], health: Codec[ConnectorHealth]
    ) -> None:
        super().__init__(session, codec)
        self._health = health

    def _params(self, operation: Operation) -> dict[str, Any]:
        params = self._codec.params(operation)
        params["account_key"] = account_key(operation.identity_id, operation.account_uid)
        return params

    def enqueue_many(self, operations: Iterable[Operation]) -> builtins.list[Operation]:
        pending = list(operations)
        if not pending:
            return []
        seqs = self._s.next_seqs(len(pending))
        stored = [attrs.evolve(op, seq=seq) for op, seq in zip(pending, seqs, strict=True)]
        with self._s.atomic(conflict="an operation with this id already exists"):
            for batch in chunks(stored, BATCH):
                self._s.bulk("operation_insert_bulk", [self._params(op) for op in batch])
        return stored

    def get(self, tenant_id: UUID, operation_id: UUID) -> Operation:
        params = {"tenant_id": self._uuid(tenant_id), "id": self._uuid(operation_id)}
        found = self._load(self._s.one("operation_get", params))
        if found is None:
            raise NotFound("operation not found")
        return found

    def update(self, operation: Operation) -> None:
        if self._s.run("operation_update", self._params(operation)) == 0:
            raise NotFound("operation not found")

    def ack(self, operation: Operation, owner: str) -> bool:
        params = self._params(operation)
        params["owner"] = owner
        return bool(self._s.run("operation_ack", params))

    def list(
        self,
        tenant_id: UUID,
        *,
        limit: int,
        cursor: str | None = None,
        statuses: Sequence[OperationStatus] | None = None,
        connector_id: UUID | None = None,
    ) -> Page[Operation]:
        check_limit(limit)
        params = {
            "tenant_id": self._uuid(tenant_id),
            "after_seq": 0 if cursor is None else read_int_cursor(cursor),
            "connector_id": self._uuid(connector_id),
            "statuses": None
            if statuses is None
            else self._d.dump_list([OperationStatus(s).value for s in statuses]),
            "limit": limit + 1,
        }
        items = self._load_all(self._s.all("operation_list", params))
        return make_page(items, limit, lambda o: int_cursor(o.seq))

    def dead_letter_for_connector(
        self, tenant_id: UUID, connector_id: UUID, reason: str, now: datetime
    ) -> int:
        params = {
            "tenant_id": self._uuid(tenant_id),
            "connector_id": self._uuid(connector_id),
            "reason": reason,
            "now": self._time(now),
        }
        return self._s.run("operation_dead_letter", params)

    def claim_due(
        self, owner: str, now: datetime, lease_seconds: float, limit: int
    ) -> builtins.list[Operation]:
        if limit < 1:
            return []
        params = {
            "owner": owner,
            "now": self._time(now),
            "lease_expires_at": self._time(now + timedelta(seconds=lease_seconds)),
            "limit": limit,
        }
        claimed = self._load_all(self._s.all("operation_claim_due", params))
        claimed.sort(key=lambda op: op.seq)
        return claimed

    def latest_for_account(
        self, tenant_id: UUID, connector_id: UUID, account_key: str
    ) -> Operation | None:
        params = {
            "tenant_id": self._uuid(tenant_id),
            "connector_id": self._uuid(connector_id),
            "account_key": account_key,
        }
        latest = self._load(self._s.one("operation_latest_for_account", params))
        if latest is None or latest.status is not OperationStatus.PENDING:
            return latest
        # Lock it only while pending, the one state a caller coalesces into: a worker
        # acking an operation in progress must never wait for an enqueuer.
        locked = self._load(self._s.one("operation_lock_pending", {"seq": latest.seq}))
        if locked is not None:
            return locked
        return self._load(self._s.one("operation_by_seq", {"seq": latest.seq}))

    def count_behind(self, operation: Operation) -> int:
        params = {
            "tenant_id": self._uuid(operation.tenant_id),
            "connector_id": self._uuid(operation.connector_id),
            "account_key": account_key(operation.identity_id, operation.account_uid),
            "seq": operation.seq,
        }
        row = self._s.one("operation_count_behind", params)
        return 0 if row is None else int(row["n"])

    def get_health(self, tenant_id: UUID, connector_id: UUID) -> ConnectorHealth | None:
        params = {"tenant_id": self._uuid(tenant_id), "connector_id": self._uuid(connector_id)}
        row = self._s.one("health_get", params)
        return None if row is None else self._health.load(row)

    def put_health(self, health: ConnectorHealth) -> None:
        try:
            with self._s.atomic():
                self._s.run("health_put", self._health.params(health))
        except NotFound:
            pass  # the connector was deleted by a concurrent transaction: no health

    def stats(self, tenant_id: UUID, now: datetime) -> dict[str, Any]:
        tenant = self._uuid(tenant_id)
        rows = self._s.all("operation_stats", {"tenant_id": tenant})
        paused = self._s.all("operation_quarantined", {"tenant_id": tenant, "now": self._time(now)})
        return queue_stats(
            ((UUID(str(row["connector_id"])), row["status"], int(row["n"])) for row in rows),
            (self._d.load_time(row["oldest"]) for row in rows if row["status"] in _WAITING),
            now,
            (
                (UUID(str(row["connector_id"])), self._d.load_time(row["quarantined_until"]))
                for row in paused
            ),
        )


_WAITING = ("pending", "retrying")


def queue_stats(
    counts: Iterable[tuple[UUID, str, int]],
    waiting_since: Iterable[datetime],
    now: datetime,
    quarantined: Iterable[tuple[UUID, datetime]] = (),
) -> dict[str, Any]:
    """SPEC §4.4 queue stats from (connector, status, count) triples (JSON-ready).

    ``oldest_pending_age_seconds`` is the age of the oldest operation still waiting to be
    delivered (``pending`` or ``retrying``). ``quarantined`` holds the connectors whose
    quarantine lasts past ``now``: they show ``quarantined_until`` (RFC 3339) and are
    listed even with nothing queued.
    """
    totals = {"pending": 0, "in_progress": 0, "retrying": 0, "dead": 0}
    per: dict[UUID, dict[str, int]] = {}

    def entry(connector_id: UUID) -> dict[str, int]:
        return per.setdefault(connector_id, {"pending": 0, "retrying": 0, "dead": 0})

    for connector_id, status, n in counts:
        if status not in totals:
            continue
        totals[status] += n
        counted = entry(connector_id)
        if status in counted:
            counted[status] += n
    until: dict[UUID, str] = {}
    for connector_id, when in quarantined:
        if when > now:
            entry(connector_id)
            until[connector_id] = converter.unstructure(when)
    oldest = min(waiting_since, default=None)
    age = None if oldest is None else max(0.0, (now - oldest).total_seconds())
    return {
        **totals,
        "oldest_pending_age_seconds": age,
        "connectors": [
            {"connector_id": str(cid), **per[cid], "quarantined_until": until.get(cid)}
            for cid in sorted(per)
        ],
    }


class SqlSyncTokens(_Repo[SyncToken]):
    def _scope(self, tenant_id: UUID, connector_id: UUID) -> dict[str, Any]:
        return {"tenant_id": self._uuid(tenant_id), "connector_id": self._uuid(connector_id)}

    def get(self, tenant_id: UUID, connector_id: UUID) -> SyncToken | None:
        return self._load(self._s.one("sync_token_get", self._scope(tenant_id, connector_id)))

    def put(self, token: SyncToken) -> None:
        with self._s.atomic(missing="connector not found"):
            self._s.run("sync_token_put", self._codec.params(token))

    def delete(self, tenant_id: UUID, connector_id: UUID) -> None:
        self._s.run("sync_token_delete", self._scope(tenant_id, connector_id))


# --------------------------------------------------------------------------- identities


class SqlIdentities(_Repo[Identity]):
    """The reference identity store, in the same database (and transaction) as the rest.

    Every (attribute, element value) of an identity is also a row of ``identity_values``
    so ``find_by_values`` is one indexed lookup per batch of values.
    """

    def _key(self, tenant_id: UUID, identity_id: UUID) -> dict[str, Any]:
        return {"tenant_id": self._uuid(tenant_id), "id": self._uuid(identity_id)}

    def _index(self, identities: Iterable[Identity]) -> None:
        index_identities(self._s, identities)

    def get(self, tenant_id: UUID, identity_id: UUID) -> Identity:
        found = self._load(self._s.one("identity_get", self._key(tenant_id, identity_id)))
        if found is None:
            raise NotFound("identity not found")
        return found

    def get_many(self, tenant_id: UUID, identity_ids: Iterable[UUID]) -> dict[UUID, Identity]:
        out: dict[UUID, Identity] = {}
        for batch in chunks(sorted(set(identity_ids), key=UUID_ORDER), BATCH):
            params = {
                "tenant_id": self._uuid(tenant_id),
                "ids": self._d.dump_list([self._uuid(i) for i in batch]),
            }
            for identity in self._load_all(self._s.all("identity_get_many", params)):
                out[identity.id] = identity
        return out

    def find_by_values(
        self, tenant_id: UUID, attribute: str, values: Iterable[Any]
    ) -> dict[Any, builtins.list[Identity]]:
        by_key = keys_of_values(values)
        load = self._codec.load
        found: builtins.list[tuple[str, Identity]] = []
        for batch in chunks(sorted(by_key), BATCH):
            params = {
                "tenant_id": self._uuid(tenant_id),
                "attribute": attribute,
                "value_keys": self._d.dump_list(batch),
            }
            found.extend(
                (row["value_key"], load(row)) for row in self._s.all("identity_find", params)
            )
        return candidates_by_value(by_key, found, lambda identity: identity.id)

    def iter_scope(
        self, tenant_id: UUID, scope: Sequence[ScopeCondition] | None, *, page_size: int
    ) -> Iterator[builtins.list[Identity]]:
        # The scope is evaluated in Python on each page read in id order (one shared
        # predicate for every store); pushing it into SQL is a later optimisation.
        if page_size < 1:
            raise InvalidInput([FieldError("page_size", "must be at least 1")])
        start: UUID | None = NIL_UUID
        buffer: builtins.list[Identity] = []
        while start is not None:
            params = {
                "tenant_id": self._uuid(tenant_id),
                "from_id": self._uuid(start),
                "limit": page_size,
            }
            items = self._load_all(self._s.all("identity_page_by_id", params))
            buffer.extend(i for i in items if in_scope(scope, i.attributes))
            while len(buffer) >= page_size:
                yield buffer[:page_size]
                buffer = buffer[page_size:]
            start = successor(items[-1].id) if len(items) == page_size else None
        if buffer:
            yield buffer

    def add(self, identity: Identity) -> None:
        if self._s.one("identity_insert", self._codec.params(identity)) is None:
            raise Conflict("an identity with this id already exists")
        self._index([identity])

    def add_many(self, identities: Iterable[Identity]) -> None:
        params = self._codec.params
        with self._s.atomic(conflict="an identity with this id already exists"):
            for batch in batches(identities, BATCH):
                self._s.bulk("identity_insert_bulk", [params(identity) for identity in batch])
                self._index(batch)

    def update(self, identity: Identity) -> None:
        params = self._codec.params(identity)
        params["expected_version"] = identity.version - 1
        if self._s.run("identity_update", params) == 0:
            key = self._key(identity.tenant_id, identity.id)
            if self._s.one("identity_version", key) is None:
                raise NotFound("identity not found")
            raise VersionConflict("the identity was changed since it was read")
        key = {"tenant_id": params["tenant_id"], "identity_id": params["id"]}
        self._s.run("identity_values_delete", key)
        self._index([identity])

    def delete(self, tenant_id: UUID, identity_id: UUID) -> None:
        if self._s.run("identity_delete", self._key(tenant_id, identity_id)) == 0:
            raise NotFound("identity not found")

    def list(
        self, tenant_id: UUID, *, limit: int, cursor: str | None = None, enabled: bool | None = None
    ) -> Page[Identity]:
        check_limit(limit)
        params = {
            "tenant_id": self._uuid(tenant_id),
            "enabled": enabled,
            "limit": limit + 1,
            **self._after(cursor),
        }
        items = self._load_all(self._s.all("identity_list", params))
        return make_page(items, limit, lambda i: time_id_cursor(i.created_at, i.id))

    def without_live_account(
        self, tenant_id: UUID, connector_id: UUID, *, limit: int, cursor: str | None = None
    ) -> Page[Identity]:
        check_limit(limit)
        params = {
            "tenant_id": self._uuid(tenant_id),
            "connector_id": self._uuid(connector_id),
            "limit": limit + 1,
            **self._after(cursor),
        }
        items = self._load_all(self._s.all("identity_without_live_account", params))
        return make_page(items, limit, lambda i: time_id_cursor(i.created_at, i.id))


def index_identities(session: SqlSession, identities: Iterable[Identity]) -> None:
    """Write the ``identity_values`` rows of ``identities`` (one batch)."""
    dump = session.dialect.dump_uuid
    rows: builtins.list[dict[str, Any]] = []
    for identity in identities:
        tenant, ident = dump(identity.tenant_id), dump(identity.id)
        rows.extend(
            {"tenant_id": tenant, "attribute": a, "value_key": k, "identity_id": ident}
            for a, k in identity_value_rows(identity.attributes)
        )
    session.bulk("identity_values_insert_bulk", rows)


def rebuild_identity_values(session: SqlSession, codecs: Codecs) -> None:
    """Recompute every ``identity_values`` row from ``identities`` (after key changes)."""
    load = codecs.identity.load
    after: tuple[Any, Any] | None = None
    while True:
        params = {
            "after_tenant": None if after is None else after[0],
            "after_id": None if after is None else after[1],
            "limit": BATCH,
        }
        rows = session.all("identity_page_all", params)
        index_identities(session, [load(row) for row in rows])
        if len(rows) < BATCH:
            return
        after = (rows[-1]["tenant_id"], rows[-1]["id"])


DATA_MIGRATIONS: Mapping[int, Callable[[SqlSession, Codecs], None]] = {
    2: rebuild_identity_values,
}
"""Steps a migration needs Python for, run right after its script in its transaction."""


def successor(ident: UUID) -> UUID | None:
    """The next UUID in sort order, or None after the largest."""
    return None if ident == MAX_UUID else UUID(int=ident.int + 1)


# --------------------------------------------------------------------------- unit of work


class SqlRepositories:
    """The repositories of one SQL unit of work, over one session."""

    def __init__(self, session: SqlSession, codecs: Codecs) -> None:
        self.tenants = SqlTenants(session, codecs.tenant)
        self.api_tokens = SqlApiTokens(session, codecs.api_token)
        self.connectors = SqlConnectors(session, codecs.connector)
        self.schemas = SqlSchemas(session, codecs.schema)
        self.shadows = SqlShadows(session, codecs.shadow)
        self.runs = SqlRuns(session, codecs.run)
        self.discrepancies = SqlDiscrepancies(session, codecs.discrepancy)
        self.operations = SqlOperations(session, codecs.operation, codecs.health)
        self.sync_tokens = SqlSyncTokens(session, codecs.sync_token)
        self.identities = SqlIdentities(session, codecs.identity)


class SqlUnitOfWork:
    """One transaction of a SQL store: a session from ``open_session``, closed on exit.

    Leaving the ``with`` block without ``commit()`` (or with an exception) rolls back.
    After ``commit()`` the unit of work can go on; later writes form a new transaction.
    """

    tenants: TenantRepository
    api_tokens: ApiTokenRepository
    connectors: ConnectorRepository
    schemas: SchemaRepository
    shadows: ShadowRepository
    runs: RunRepository
    discrepancies: DiscrepancyRepository
    operations: OperationRepository
    sync_tokens: SyncTokenRepository
    identities: ReferenceIdentityStore

    def __init__(
        self,
        open_session: Callable[[], SqlSession],
        close_session: Callable[[SqlSession], None],
        codecs: Codecs,
    ) -> None:
        self._open = open_session
        self._close = close_session
        self._codecs = codecs
        self._session: SqlSession | None = None

    def __enter__(self) -> Self:
        if self._session is not None:
            raise RuntimeError("this unit of work is already open")
        session = self._open()
        self._session = session
        repos = SqlRepositories(session, self._codecs)
        self.tenants = repos.tenants
        self.api_tokens = repos.api_tokens
        self.connectors = repos.connectors
        self.schemas = repos.schemas
        self.shadows = repos.shadows
        self.runs = repos.runs
        self.discrepancies = repos.discrepancies
        self.operations = repos.operations
        self.sync_tokens = repos.sync_tokens
        self.identities = repos.identities
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        session, self._session = self._session, None
        if session is None:
            return
        try:
            session.rollback()
        except Exception:
            if exc_type is None:
                raise
            # the original error matters more than a failed rollback (e.g. a lost link)
        finally:
            self._close(session)

    def _current(self) -> SqlSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open (use it in a with block)")
        return self._session

    def commit(self) -> None:
        self._current().commit()

    def rollback(self) -> None:
        self._current().rollback()
