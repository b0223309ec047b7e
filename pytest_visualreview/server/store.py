"""The embedded store: one SQLite database in WAL mode, versioned by ``PRAGMA user_version``.

Why SQLite: a team can run the server with one command and no setup, and WAL mode lets many readers
run while one writer commits, which is what a review server does (CI writes, people read). Every
write goes through :meth:`Store.transaction`, which takes the write lock up front (``BEGIN
IMMEDIATE``) so read-then-write sequences cannot interleave across threads: two shards adding the
same identifier at once, or a worker and an approval touching one run, see each other's commits.

Connections are per thread (sqlite3 objects must not cross threads); FastAPI runs sync handlers in
a thread pool and the diff worker has its own threads, so each gets its own connection lazily.

Migrations are a list of SQL scripts; ``user_version`` records how many ran. Append, never edit.
A new database is seeded with organization ``default`` holding project 1 (slug ``default``).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from . import datadir

DB_FILENAME = "visualreview.sqlite3"
#: The metadata store's row and connection types. The domain names these, never ``sqlite3``; the
#: PostgreSQL store (``pgstore``) hands out objects with the same surface (``row["col"]``,
#: ``conn.execute(sql, params)``), so the domain does not know which store it has.
Row = sqlite3.Row
Connection = sqlite3.Connection
#: The store's errors, for the one place that turns a full disk into a 507 (:mod:`.errors`, ``app``).
DatabaseError = sqlite3.Error
OperationalError = sqlite3.OperationalError

#: Schema migrations, in order. Index i brings user_version from i to i + 1. Append only.
MIGRATIONS: list[str] = [
    # 1: the initial schema.
    """
    CREATE TABLE organizations (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        organization_id INTEGER NOT NULL REFERENCES organizations(id),
        slug TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (organization_id, slug)
    );
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        scopes TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );
    CREATE TABLE repos (
        id TEXT PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        repo_full_name TEXT NOT NULL,
        repo_external_id INTEGER,
        baseline_file_paths TEXT NOT NULL DEFAULT '{}',
        signing_keys TEXT NOT NULL DEFAULT '{}',
        trust_unsigned_baselines INTEGER NOT NULL DEFAULT 0,
        default_branches TEXT NOT NULL DEFAULT '["main", "master"]',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX repos_project ON repos (project_id);
    CREATE TABLE artifacts (
        id TEXT PRIMARY KEY,
        repo_id TEXT NOT NULL REFERENCES repos(id),
        content_hash TEXT NOT NULL,
        kind TEXT NOT NULL,
        width INTEGER,
        height INTEGER,
        size_bytes INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (repo_id, content_hash)
    );
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        project_id INTEGER NOT NULL REFERENCES projects(id),
        repo_id TEXT NOT NULL REFERENCES repos(id),
        status TEXT NOT NULL,
        run_type TEXT NOT NULL,
        commit_sha TEXT NOT NULL,
        branch TEXT NOT NULL,
        pr_number INTEGER,
        purpose TEXT NOT NULL,
        review_decision TEXT NOT NULL DEFAULT 'pending',
        approved INTEGER NOT NULL DEFAULT 0,
        approved_at TEXT,
        approved_by_token_id INTEGER,
        total_snapshots INTEGER NOT NULL DEFAULT 0,
        changed_count INTEGER NOT NULL DEFAULT 0,
        new_count INTEGER NOT NULL DEFAULT 0,
        removed_count INTEGER NOT NULL DEFAULT 0,
        unchanged_count INTEGER NOT NULL DEFAULT 0,
        unresolved_count INTEGER NOT NULL DEFAULT 0,
        tolerated_match_count INTEGER NOT NULL DEFAULT 0,
        error_message TEXT,
        superseded_by_id TEXT,
        metadata TEXT NOT NULL DEFAULT '{}',
        is_partial INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        completed_at TEXT
    );
    CREATE INDEX runs_group ON runs (repo_id, branch, run_type, superseded_by_id);
    CREATE INDEX runs_project ON runs (project_id, status);
    CREATE TABLE run_baselines (
        run_id TEXT NOT NULL REFERENCES runs(id),
        identifier TEXT NOT NULL,
        token TEXT NOT NULL,
        content_hash TEXT,
        PRIMARY KEY (run_id, identifier)
    );
    CREATE TABLE run_snapshots (
        id TEXT PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id),
        seq INTEGER NOT NULL,
        identifier TEXT NOT NULL,
        current_hash TEXT NOT NULL DEFAULT '',
        baseline_hash TEXT NOT NULL DEFAULT '',
        current_width INTEGER,
        current_height INTEGER,
        result TEXT NOT NULL,
        classification_reason TEXT NOT NULL DEFAULT '',
        needs_diff INTEGER NOT NULL DEFAULT 0,
        tolerated_hash_id TEXT,
        is_quarantined INTEGER NOT NULL DEFAULT 0,
        diff_percentage REAL,
        diff_pixel_count INTEGER,
        ssim_score REAL,
        change_kind TEXT NOT NULL DEFAULT '',
        diff_hash TEXT,
        diff_metadata TEXT NOT NULL DEFAULT '{}',
        review_state TEXT NOT NULL DEFAULT 'pending',
        reviewed_at TEXT,
        reviewed_by_token_id INTEGER,
        review_comment TEXT NOT NULL DEFAULT '',
        approved_hash TEXT NOT NULL DEFAULT '',
        metadata TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        UNIQUE (run_id, identifier)
    );
    CREATE INDEX run_snapshots_diff ON run_snapshots (run_id, needs_diff);
    CREATE INDEX run_snapshots_identifier ON run_snapshots (identifier);
    CREATE TABLE tolerated_hashes (
        id TEXT PRIMARY KEY,
        repo_id TEXT NOT NULL REFERENCES repos(id),
        identifier TEXT NOT NULL,
        baseline_hash TEXT NOT NULL,
        alternate_hash TEXT NOT NULL,
        reason TEXT NOT NULL,
        source_run_id TEXT,
        created_by_token_id INTEGER,
        diff_percentage REAL,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        UNIQUE (repo_id, identifier, baseline_hash, alternate_hash)
    );
    CREATE TABLE quarantined_identifiers (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        repo_id TEXT NOT NULL REFERENCES repos(id),
        identifier TEXT NOT NULL,
        run_type TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT 'human',
        expires_at TEXT,
        created_by_token_id INTEGER,
        source_run_id TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX quarantine_lookup ON quarantined_identifiers (repo_id, run_type, identifier);
    """,
    # 2: server-side baselines (review/accepted.py): the accepted state per (repo, run type,
    # branch, identifier), '' = accepted as removed, and its append-only history; an index for
    # pending-run expiry (expiry.py).
    """
    CREATE TABLE accepted_baselines (
        repo_id TEXT NOT NULL REFERENCES repos(id),
        run_type TEXT NOT NULL,
        branch TEXT NOT NULL,
        identifier TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        source TEXT NOT NULL,
        source_run_id TEXT,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (repo_id, run_type, branch, identifier)
    );
    CREATE TABLE accepted_baseline_history (
        id TEXT PRIMARY KEY,
        repo_id TEXT NOT NULL REFERENCES repos(id),
        run_type TEXT NOT NULL,
        branch TEXT NOT NULL,
        identifier TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        previous_hash TEXT NOT NULL,
        source TEXT NOT NULL,
        source_run_id TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX runs_status_age ON runs (status, created_at);
    CREATE INDEX accepted_history_lookup
        ON accepted_baseline_history (repo_id, run_type, branch, identifier, created_at);
    """,
]


def now(*, seconds_ago: float = 0.0) -> str:
    """Current UTC time (or ``seconds_ago`` before it) as an ISO-8601 string with a ``Z`` suffix
    (PostHog's JSON style).

    Microseconds are kept so string order is time order for rows written in quick succession.
    """
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """Parse a timestamp written by :func:`now` (or any ISO-8601 string) to an aware datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def new_id() -> str:
    """A random UUID string: PostHog's primary-key style for repos, runs, snapshots, artifacts."""
    return str(uuid.uuid4())


def dumps(value: Any) -> str:
    """JSON for a TEXT column (compact, stable key order as given)."""
    return json.dumps(value, separators=(",", ":"))


def loads(value: str | None) -> Any:
    """Inverse of :func:`dumps`; NULL and '' read as an empty dict."""
    return json.loads(value) if value else {}


class Store:
    """The SQLite database in ``data_dir``: opens, migrates and seeds it; hands out connections."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_FILENAME
        datadir.prepare(self.data_dir, self.path)
        self._local = threading.local()
        self._migrate()

    # -- connections -------------------------------------------------------------------------

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit mode; transactions are explicit)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database write lock from the start.

        Nested use is flattened into the outer transaction, so domain functions can call each
        other without caring who opened it.
        """
        conn = self.connection()
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield conn
            finally:
                self._local.depth = depth
            return
        conn.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            # SQLite has already rolled back after some errors (SQLITE_FULL: disk full), and a
            # second ROLLBACK would hide the real error behind "no transaction is active".
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._local.depth = 0

    def query(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """Run a read query on this thread's connection and return all rows."""
        return self.connection().execute(sql, params).fetchall()

    def query_in(
        self, sql: str, params: tuple[Any, ...], values: Iterable[Any], *, chunk: int = 500
    ) -> list[sqlite3.Row]:
        """Rows of `sql` whose `{marks}` placeholder is an IN list of `values` (deduplicated),
        run in chunks so a long list stays under SQLite's limit on bound variables."""
        wanted = list(dict.fromkeys(values))
        rows: list[sqlite3.Row] = []
        for start in range(0, len(wanted), chunk):
            part = wanted[start : start + chunk]
            rows.extend(self.query(sql.format(marks=",".join("?" * len(part))), (*params, *part)))
        return rows

    def present(self, sql: str, params: tuple[Any, ...], values: Iterable[Any]) -> set[str]:
        """Which of ``values`` a one-column ``IN ({marks})`` query finds (upload dedupe)."""
        return {str(row[0]) for row in self.query_in(sql, params, values)}

    def query_one(
        self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        """Run a read query and return its first row, or None."""
        return self.connection().execute(sql, params).fetchone()

    def close(self) -> None:
        """Close this thread's connection (other threads' connections close when they exit)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- schema ------------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        row = self.query_one("PRAGMA user_version")
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        """Bring the schema to the newest version, then seed a new database.

        Each migration and its version bump commit together, so a crash never leaves a half-applied
        schema that claims to be complete.
        """
        conn = self.connection()
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"{self.path}: schema version {version} is newer than this server knows "
                f"({len(MIGRATIONS)}); upgrade pytest-visualreview"
            )
        for index in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in _split_sql(MIGRATIONS[index]):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {index + 1}")
        self._seed()

    def _seed(self) -> None:
        """Organization ``default`` with project 1 ``default``, and the URL-signing secret."""
        with self.transaction() as conn:
            stamp = now()
            conn.execute(
                "INSERT INTO organizations (id, slug, name, created_at)"
                " VALUES (1, 'default', 'Default', ?) ON CONFLICT DO NOTHING",
                (stamp,),
            )
            conn.execute(
                "INSERT INTO projects (id, organization_id, slug, name, created_at)"
                " VALUES (1, 1, 'default', 'Default', ?) ON CONFLICT DO NOTHING",
                (stamp,),
            )
            conn.execute(
                "INSERT INTO settings (key, value) VALUES ('url_secret', ?) ON CONFLICT DO NOTHING",
                (secrets.token_hex(32),),
            )

    def ensure_schema(self, namespace: str, migrations: list[str]) -> int:
        """Apply another component's own migrations (e.g. ``"sentry"``), tracked per namespace.

        Routers that need tables keep their SQL next to their code and call this at install time;
        the core schema stays in :data:`MIGRATIONS`. Idempotent; returns the namespace's version.
        """
        conn = self.connection()
        with self.transaction():
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_namespaces"
                " (namespace TEXT PRIMARY KEY, version INTEGER NOT NULL)"
            )
        row = self.query_one(
            "SELECT version FROM schema_namespaces WHERE namespace = ?", (namespace,)
        )
        version = int(row["version"]) if row else 0
        if version > len(migrations):
            raise RuntimeError(
                f"{self.path}: {namespace} schema version {version} is newer than this server"
            )
        for index in range(version, len(migrations)):
            with self.transaction():
                for statement in _split_sql(migrations[index]):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_namespaces (namespace, version) VALUES (?, ?)"
                    " ON CONFLICT (namespace) DO UPDATE SET version = excluded.version",
                    (namespace, index + 1),
                )
        return len(migrations)

    # -- small shared lookups ----------------------------------------------------------------

    def setting(self, key: str) -> str | None:
        row = self.query_one("SELECT value FROM settings WHERE key = ?", (key,))
        return str(row["value"]) if row else None

    @property
    def url_secret(self) -> bytes:
        """Secret for presigned upload policies and download URLs (created on first start)."""
        cached: bytes | None = getattr(self, "_url_secret", None)
        if cached is None:
            value = self.setting("url_secret")
            assert value is not None, "store not seeded"
            cached = bytes.fromhex(value)
            self._url_secret = cached
        return cached

    def create_project(self, slug: str, name: str = "", *, organization_id: int = 1) -> int:
        """Add a project to an organization and return its id (ids count up from 1)."""
        with self.transaction() as conn:
            row = conn.execute(
                "INSERT INTO projects (organization_id, slug, name, created_at)"
                " VALUES (?, ?, ?, ?) RETURNING id",
                (organization_id, slug, name or slug, now()),
            ).fetchone()
            return int(row[0])


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (our scripts have no ';' inside literals)."""
    return [part.strip() for part in script.split(";") if part.strip()]
