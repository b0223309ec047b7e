"""``visualreview migrate --from DATA_DIR --to postgresql://... [--blob-url ...]``: move up.

Why a command and not a dump: the embedded store's SQL file and blob folder are our own format;
a team moving to PostgreSQL + object storage should not need to know it. The copy is table by
table in foreign-key order (so it follows whatever migrations the schema has, including those
added later), every row of every table with the columns both sides have, in one transaction on
the target; the seeded rows (organization 1, project 1, the URL-signing secret) are replaced by
the source's, so tokens, signed download URLs and session cookies stay valid. Then every blob is
copied and both are verified: per-table row counts and a digest of the rows' values, and each
blob's BLAKE3 read back from the target. The target must be empty (no tokens, repos or runs): a
second migrate into a used database is refused rather than merged.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from blake3 import blake3

from . import uploads
from .blobs import Blobs, BlobStore, open_blobs
from .pgstore import PgStore
from .sentry import db as sentry_db
from .storage import StorageConfig, StorageError
from .store import DB_FILENAME, Store

#: Modules with tables of their own (``install(store)``: ``ensure_schema`` of their namespace).
NAMESPACED = (sentry_db, uploads)
#: Rows the target's seed wrote that the source's replace (same ids / keys).
SEEDED = ("organizations", "projects", "settings")
#: Tables that say a database is in use; any row in one of them makes the target "not empty".
IN_USE = ("api_tokens", "repos", "runs", "sentry_snapshots")
BATCH = 1000


class MigrateError(Exception):
    """The migration cannot start or did not verify; the message says what to do."""


def tables_in_order(source: Store) -> list[str]:
    """The source's tables, each after the tables its foreign keys point to."""
    names = [str(r[0]) for r in source.query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name != 'schema_namespaces' ORDER BY name"
    )]
    deps = {name: {str(r["table"]) for r in source.query(f"PRAGMA foreign_key_list({name})")}
            for name in names}
    ordered: list[str] = []
    while len(ordered) < len(names):
        ready = [n for n in names if n not in ordered and deps[n] <= {*ordered, n}]
        if not ready:
            raise MigrateError(f"foreign keys form a cycle among {sorted(set(names) - set(ordered))}")
        ordered.extend(ready)
    return ordered


def columns(store: Any, table: str) -> list[str]:
    if isinstance(store, PgStore):
        rows = store.query(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [str(r[0]) for r in rows]
    return [str(r["name"]) for r in store.query(f"PRAGMA table_info({table})")]


def digest(store: Any, table: str, cols: list[str]) -> tuple[int, str]:
    """(row count, BLAKE3 of the sorted rows' values): equal on both sides iff the rows are."""
    rows = store.query(f"SELECT {', '.join(cols)} FROM {table}")
    lines = sorted(repr(tuple(_plain(v) for v in row)) for row in rows)
    return len(lines), blake3("\n".join(lines).encode()).hexdigest()


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, float) else value


def blob_keys(root: Path) -> Iterator[str]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.endswith(".tmp"):
            yield path.name


def migrate(data_dir: Path, target: StorageConfig, *, log: Any = print) -> dict[str, int]:
    """Copy and verify; returns rows per table plus ``blobs``. Raises :class:`MigrateError`."""
    if not (data_dir / DB_FILENAME).is_file():
        raise MigrateError(f"--from {data_dir}: no embedded store there ({DB_FILENAME})")
    source = Store(data_dir)
    assert target.database_url is not None
    dest = PgStore(target.database_url)
    for store in (source, dest):  # the routers' own tables, as a server start creates them
        for namespace in NAMESPACED:
            namespace.install(store)
    if source.schema_version != dest.schema_version:
        raise MigrateError(f"schema versions differ ({source.schema_version} here, "
                           f"{dest.schema_version} there): run the same pytest-visualreview")
    for table in IN_USE:
        if dest.query_one(f"SELECT 1 FROM {table} LIMIT 1") is not None:
            raise MigrateError(f"--to {dest.path} is not empty ({table} has rows); migrate into a "
                               "new database")
    tables = tables_in_order(source)
    missing = [t for t in tables if not columns(dest, t)]
    if missing:
        raise MigrateError(f"--to {dest.path} has no table {', '.join(missing)}: start a server "
                           "of this version on it once (it creates them), then migrate")
    counts: dict[str, int] = {}
    with dest.transaction() as conn:
        for table in reversed(SEEDED):
            conn.execute(f"DELETE FROM {table}")
        for table in tables:
            cols = [c for c in columns(source, table) if c in set(columns(dest, table))]
            insert = (f"INSERT INTO {table} ({', '.join(cols)})"
                      f" VALUES ({', '.join('?' * len(cols))})")
            rows = source.query(f"SELECT {', '.join(cols)} FROM {table}")
            for start in range(0, len(rows), BATCH):
                conn.executemany(insert, [tuple(r) for r in rows[start : start + BATCH]])
            counts[table] = len(rows)
            log(f"copied {len(rows)} rows of {table}")
        dest.sync_sequences(conn)
    for table in tables:
        cols = [c for c in columns(source, table) if c in set(columns(dest, table))]
        if digest(source, table, cols) != digest(dest, table, cols):
            raise MigrateError(f"{table}: the copy differs from the source; nothing else touched "
                               "the target? migrate into a new database again")
    counts["blobs"] = copy_blobs(BlobStore(data_dir / "blobs"), open_blobs(target), log=log)
    return counts


def copy_blobs(source: BlobStore, target: Blobs, *, log: Any = print) -> int:
    """Copy every blob and read it back: the target's bytes must hash like the source's."""
    copied = 0
    for key in blob_keys(source.root):
        data = source.get(key)
        target.put(key, data)
        if blake3(target.get(key)).digest() != blake3(data).digest():
            raise MigrateError(f"blob {key}: the copy differs from the source")
        copied += 1
    log(f"copied and verified {copied} blobs")
    return copied


def cmd_migrate(args: argparse.Namespace) -> int:
    try:
        target = StorageConfig(
            database_url=args.target, blob_url=args.blob_url, s3_endpoint_url=args.s3_endpoint_url
        )
        counts = migrate(Path(args.source), target, log=lambda m: print(m, file=sys.stderr))
    except (MigrateError, StorageError) as exc:
        print(f"visualreview migrate: {exc}", file=sys.stderr)
        return 2
    total = sum(v for k, v in counts.items() if k != "blobs")
    print(f"migrated {total} rows in {len(counts) - 1} tables and {counts['blobs']} blobs; verified")
    return 0
