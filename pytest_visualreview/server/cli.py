"""Server subcommands of ``visualreview``: ``serve``, ``worker``, ``token create``, ``repo create``.

Imported lazily by :mod:`pytest_visualreview.cli` only when one of these commands runs, so the
plugin's own commands work without the ``[server]`` extra installed. Admin commands print only the
new token or id on stdout (scripts capture it); anything else goes to stderr. Every command finds
its store through :mod:`.storage` (``--data-dir``, or ``--database-url`` + ``--blob-url``).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .errors import ServerError


def _open(args: argparse.Namespace, command: str) -> Any:
    """The metadata store the storage options name, or None after printing why not."""
    from .datadir import DataDirError
    from .storage import StorageError, open_store, storage_from_args

    try:
        return open_store(storage_from_args(args))
    except (StorageError, DataDirError, ServerError) as exc:
        print(f"visualreview {command}: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .datadir import DataDirError
    from .storage import StorageError, storage_from_args

    try:
        config = storage_from_args(args)
        if not args.worker and not config.shared:
            raise StorageError("--no-worker needs --database-url: the embedded store's worker "
                               "runs inside the server")
        app = create_app(
            config, public_url=args.public_url, diff_workers=args.diff_workers,
            start_worker=args.worker, pending_expiry_hours=args.pending_expiry_hours,
        )
    except (DataDirError, StorageError, ServerError) as exc:
        print(f"visualreview serve: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return 2
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    """Diff workers on the shared queue, in the foreground until SIGINT/SIGTERM."""
    import logging

    from .app import create_app
    from .queue import SharedQueue
    from .storage import StorageError, storage_from_args

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = storage_from_args(args)
        if not config.shared:
            raise StorageError("worker needs --database-url: the embedded store's worker runs "
                               "inside 'visualreview serve'")
        app = create_app(
            config, start_worker=False, diff_workers=args.diff_workers,
            pending_expiry_hours=args.pending_expiry_hours,
        )
    except (StorageError, ServerError) as exc:
        print(f"visualreview worker: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return 2
    queue = app.state.context.worker
    assert isinstance(queue, SharedQueue)
    queue.run_forever()
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from .auth import create_token

    store = _open(args, "token create")
    if store is None:
        return 2
    try:
        token = create_token(store, args.project, args.scope, name=args.name)
    except ServerError as exc:
        print(f"visualreview token create: {exc.detail}", file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from .auth import revoke_token

    store = _open(args, "token revoke")
    if store is None:
        return 2
    if not revoke_token(store, args.token.strip()):
        print("visualreview token revoke: no such active token", file=sys.stderr)
        return 2
    return 0


def cmd_repo_create(args: argparse.Namespace) -> int:
    from .repos import create_repo

    store = _open(args, "repo create")
    if store is None:
        return 2
    try:
        repo = create_repo(
            store, args.project, args.name, external_id=args.external_id,
            trust_unsigned=args.trust_unsigned,
        )
    except ServerError as exc:
        print(f"visualreview repo create: {exc.detail}", file=sys.stderr)
        return 2
    print(repo.id)
    return 0
