"""The PostgreSQL metadata store: the same surface as :class:`.store.Store`, for many machines.

Why a second backend: stateless API replicas and diff workers on several machines need one
database they all reach; SQLite is one file on one machine. The domain keeps calling
``store.transaction()``, ``query``, ``query_one``, ``query_in``, ``present``, ``ensure_schema``
and ``conn.execute(sql, params)`` with ``?`` placeholders; this module is the only place that
knows it talks to PostgreSQL.

What differs from SQLite, and how it is bridged here (nowhere else):

- *The write lock.* ``transaction()`` takes ``pg_advisory_xact_lock`` as its first statement, so a
  read-then-write sequence holds the one write lock from its start, across every replica, exactly
  like SQLite's ``BEGIN IMMEDIATE``. Reads outside a transaction run in autocommit.
- *Placeholders.* The DB-API ``qmark`` style (``?``) becomes psycopg's ``%s``; a literal ``%``
  becomes ``%%``. That is the driver's parameter syntax, not SQL dialect: the SQL itself is
  portable (``ON CONFLICT DO NOTHING``, ``RETURNING id``), written so in the domain.
- *Types.* Values are bound client-side (psycopg's ``ClientCursor``) so untyped parameters behave
  as in SQLite; Python ``bool`` binds as 0/1 (the schema's flags are integers); ``SUM`` of
  integers reads back as ``int``, not ``Decimal``. Rows are :class:`PgRow`, readable as
  ``row["col"]`` and ``row[0]`` like ``sqlite3.Row``.
- *Schema.* The same migration lists as SQLite (one portable list, so the two never drift), with
  three DDL spellings mapped by :func:`pg_ddl`: auto-increment keys become identity columns,
  ``INTEGER`` becomes ``BIGINT`` and ``REAL`` becomes ``DOUBLE PRECISION`` (PostgreSQL's ``REAL``
  is 4 bytes and would round ``diff_percentage``). Versions live in ``schema_namespaces``
  (namespace ``core`` for :data:`.store.MIGRATIONS`).
- *Restarts.* A connection that broke (PostgreSQL restarted, a network blip) is replaced; reads
  and the start of a transaction are retried for :data:`RETRY_SECONDS`; after that, or when a
  transaction broke mid-way (its outcome is unknown to us only if COMMIT itself failed), the
  caller gets :class:`DatabaseUnavailable`, a 503 that tells the client to retry. Never a guess.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format

from .errors import Invalid, ServerError
from .store import MIGRATIONS, Store, _split_sql

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The advisory-lock key every write transaction takes (any constant; "vr" in ASCII).
WRITE_LOCK = 0x7672
#: How long reads and transaction starts keep retrying a database that went away
#: (``VISUALREVIEW_DB_RETRY_SECONDS`` overrides it, e.g. shorter behind a load balancer).
RETRY_SECONDS = 30.0


def retry_seconds() -> float:
    return float(os.environ.get("VISUALREVIEW_DB_RETRY_SECONDS", RETRY_SECONDS))


class DatabaseUnavailable(ServerError):
    """503: PostgreSQL cannot be reached (restarting?); the request changed nothing, retry it."""

    status = 503
    type = "server_error"
    default_code = "database_unavailable"


class PgRow(tuple[Any, ...]):
    """A result row readable by column name or position, like ``sqlite3.Row``."""

    _names: dict[str, int]

    def __new__(cls, names: dict[str, int], values: Sequence[Any]) -> PgRow:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def _row_factory(cursor: Any) -> Any:
    description = cursor.description or []
    names = {column.name: index for index, column in enumerate(description)}
    return lambda values: PgRow(names, values)


class _BoolAsInt(Dumper):
    """Bind Python booleans as 0/1: the schema's flags are INTEGER columns, as in SQLite."""

    format = Format.TEXT

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _NumericLoader(Loader):
    """``numeric`` (what SUM of integers returns) as int when whole, else float, never Decimal."""

    def load(self, data: Any) -> Any:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


@lru_cache(maxsize=2048)
def pg_sql(sql: str) -> str:
    """``?`` placeholders to ``%s`` and literal ``%`` to ``%%`` (quotes are respected for ``?``)."""
    out: list[str] = []
    quote = ""
    for char in sql:
        if char == "%":
            out.append("%%")
            continue
        if quote:
            if char == quote:
                quote = ""
        elif char in ("'", '"'):
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append(char)
    return "".join(out)


_IDENTITY = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
_DDL = (
    (re.compile(r"\bINTEGER PRIMARY KEY( AUTOINCREMENT)?\b"), _IDENTITY),
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),
)


def pg_ddl(statement: str) -> str:
    """A migration statement in PostgreSQL's spelling (see the module docstring)."""
    for pattern, replacement in _DDL:
        statement = pattern.sub(replacement, statement)
    return statement


class PgCursor:
    """What ``conn.execute`` returns: ``fetchone``/``fetchall``/``rowcount``, as sqlite3's."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor
        self.rowcount = cursor.rowcount

    def fetchone(self) -> Any:
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[Any]:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConnection:
    """One psycopg connection speaking the sqlite3 connection dialect the domain uses."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self.total_changes = 0  # like sqlite3's: rows changed by this connection so far

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> PgCursor:
        cursor = self.raw.cursor()
        _refuse_nul(params)
        cursor.execute(pg_sql(sql), tuple(params) if isinstance(params, list) else params or None)
        if cursor.rowcount > 0 and not cursor.description:
            self.total_changes += cursor.rowcount
        return PgCursor(cursor)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> PgCursor:
        cursor = self.raw.cursor()
        batch = [tuple(row) for row in rows]
        for row in batch:
            _refuse_nul(row)
        if batch:
            cursor.executemany(pg_sql(sql), batch)
            if cursor.rowcount > 0:
                self.total_changes += cursor.rowcount
        return PgCursor(cursor)

    def close(self) -> None:
        self.raw.close()


class PgStore(Store):
    """The metadata store on PostgreSQL at ``url``: migrates and seeds it; hands out connections.

    Connections are per thread, as with SQLite, so a transaction never crosses threads. The
    shared lookups (``setting``, ``url_secret``, ``project``, ``query_in``, ``present``, the
    seed) are inherited from :class:`.store.Store`: only connections and schema differ.
    """

    def __init__(self, url: str) -> None:  # noqa: D107 - no data dir: the database is remote
        self.url = url
        self.path = _redact(url)  # type: ignore[assignment]  # named in messages, like the file
        self._local = threading.local()
        self._migrate()

    # -- connections -------------------------------------------------------------------------

    def connection(self) -> PgConnection:  # type: ignore[override]
        """This thread's connection (autocommit; transactions are explicit), reconnected if broken."""
        conn: PgConnection | None = getattr(self._local, "conn", None)
        if conn is not None and (conn.raw.closed or conn.raw.broken):
            conn = None
        if conn is None:
            conn = PgConnection(self._connect())
            self._local.conn = conn
        return conn

    def _connect(self) -> psycopg.Connection[Any]:
        raw = psycopg.connect(
            self.url, autocommit=True, cursor_factory=psycopg.ClientCursor,
            row_factory=_row_factory, connect_timeout=5,
        )
        raw.adapters.register_dumper(bool, _BoolAsInt)
        raw.adapters.register_loader("numeric", _NumericLoader)
        return raw

    def _retrying(self, op: Callable[[PgConnection], T]) -> T:
        """``op`` on this thread's connection; when the connection broke (PostgreSQL restarting),
        again on a fresh one until :func:`retry_seconds` pass. Inside a transaction it is never
        retried: the transaction and its lock died with the connection."""
        deadline = time.monotonic() + retry_seconds()
        while True:
            try:
                return op(self.connection())
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if getattr(self._local, "depth", 0):
                    raise self._unavailable(exc, "went away mid-transaction",
                                            "nothing was written, retry the request") from None
                self._drop_connection()
                if time.monotonic() >= deadline:
                    raise self._unavailable(exc, "is unreachable", "retry when it is back") from None
                time.sleep(0.5)

    def _unavailable(self, exc: BaseException, what: str, advice: str) -> DatabaseUnavailable:
        return DatabaseUnavailable(f"PostgreSQL at {self.path} {what} ({_first_line(exc)}); {advice}")

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:  # type: ignore[override]
        """A write transaction holding the cluster-wide write lock from its first statement.

        Nested use is flattened into the outer transaction, as in the SQLite store.
        """
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield self._local.conn
            finally:
                self._local.depth = depth
            return
        conn = self._begin()
        self._local.depth = 1
        try:
            yield conn
        except BaseException as exc:
            try:
                conn.raw.execute("ROLLBACK")
            except psycopg.Error:
                self._drop_connection()
            if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)):
                raise self._unavailable(exc, "went away mid-transaction",
                                        "nothing was written, retry the request") from None
            raise
        else:
            try:
                conn.raw.execute("COMMIT")
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                self._drop_connection()
                raise self._unavailable(exc, "went away while committing", "retry the request") from None
        finally:
            self._local.depth = 0

    def _begin(self) -> PgConnection:
        """BEGIN and take the write lock (retried on a connection that broke in between)."""

        def begin(conn: PgConnection) -> PgConnection:
            conn.raw.execute("BEGIN")
            conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            return conn

        return self._retrying(begin)

    def _read(self, sql: str, params: Sequence[Any] | dict[str, Any], one: bool) -> Any:
        """A read, retried on a fresh connection when the old one broke (reads are idempotent)."""

        def read(conn: PgConnection) -> Any:
            cursor = conn.execute(sql, params)
            return cursor.fetchone() if one else cursor.fetchall()

        return self._retrying(read)

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        """Run a read query and return all rows."""
        rows: list[Any] = self._read(sql, params, one=False)
        return rows

    def query_one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        """Run a read query and return its first row, or None."""
        return self._read(sql, params, one=True)

    def close(self) -> None:
        """Close this thread's connection."""
        self._drop_connection()

    # -- schema ------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        row = self.query_one("SELECT version FROM schema_namespaces WHERE namespace = 'core'")
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        self.ensure_schema("core", MIGRATIONS)
        self._seed()

    def _seed(self) -> None:
        """The SQLite store's seed (portable SQL), then identity sequences past the seeded ids."""
        super()._seed()
        with self.transaction() as conn:
            self.sync_sequences(conn)

    def sync_sequences(self, conn: PgConnection) -> None:
        """Move every identity sequence past its table's largest id, so rows written with an
        explicit id (the seed, ``migrate``) never collide with the next generated one."""
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND is_identity = 'YES'"
        ).fetchall()
        for row in rows:
            table, column = str(row[0]), str(row[1])
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'),"
                f" GREATEST((SELECT MAX({column}) FROM {table}), 1))"
            )

    def ensure_schema(self, namespace: str, migrations: list[str]) -> int:
        """Apply a namespace's migrations (``core``, ``sentry``, ...), each in one transaction
        under the write lock, so replicas starting together migrate once. Idempotent."""
        with self.transaction() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_namespaces"
                " (namespace TEXT PRIMARY KEY, version BIGINT NOT NULL)"
            )
        for _ in range(len(migrations) + 1):
            with self.transaction() as conn:
                row = conn.execute(
                    "SELECT version FROM schema_namespaces WHERE namespace = ?", (namespace,)
                ).fetchone()
                version = int(row["version"]) if row else 0
                if version > len(migrations):
                    raise RuntimeError(
                        f"{self.path}: {namespace} schema version {version} is newer than this "
                        f"server knows ({len(migrations)}); upgrade pytest-visualreview"
                    )
                if version == len(migrations):
                    return version
                for statement in _split_sql(migrations[version]):
                    conn.execute(pg_ddl(statement))
                conn.execute(
                    "INSERT INTO schema_namespaces (namespace, version) VALUES (?, ?)"
                    " ON CONFLICT (namespace) DO UPDATE SET version = excluded.version",
                    (namespace, version + 1),
                )
        return len(migrations)


def _refuse_nul(params: Sequence[Any] | dict[str, Any]) -> None:
    """PostgreSQL text cannot hold U+0000 (SQLite's can): a 400 naming it, before the driver's
    DataError would become a 500."""
    values = params.values() if isinstance(params, dict) else params
    for value in values:
        if isinstance(value, str) and "\x00" in value:
            raise Invalid(
                f"the value {value[:40]!r} contains a NUL character (\\x00), which cannot be "
                "stored; remove it"
            )


def _redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
