"""Server subcommands of ``visualreview``: ``serve``, ``token create``, ``repo create``.

Imported lazily by :mod:`pytest_visualreview.cli` only when one of these commands runs, so the
plugin's own commands work without the ``[server]`` extra installed. Admin commands print only the
new token or id on stdout (scripts capture it); anything else goes to stderr.
"""

from __future__ import annotations

import argparse
import sys

from .errors import ServerError


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .datadir import DataDirError

    try:
        app = create_app(args.data_dir, public_url=args.public_url, diff_workers=args.diff_workers)
    except DataDirError as exc:
        print(f"visualreview serve: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log
    )
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from .auth import create_token
    from .store import Store

    store = Store(args.data_dir)
    try:
        token = create_token(store, args.project, args.scope, name=args.name)
    except ServerError as exc:
        print(f"visualreview token create: {exc.detail}", file=sys.stderr)
        return 2
    print(token)
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from .auth import revoke_token
    from .store import Store

    if not revoke_token(Store(args.data_dir), args.token.strip()):
        print("visualreview token revoke: no such active token", file=sys.stderr)
        return 2
    return 0


def cmd_repo_create(args: argparse.Namespace) -> int:
    from .repos import create_repo
    from .store import Store

    store = Store(args.data_dir)
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
