"""`visualreview`: the console command for what is not a test run.

Each subcommand is one ``add_<name>(subparsers)`` function that declares its arguments and sets
``func`` to the handler; :data:`COMMANDS` lists them in help order. Handlers that need the server
extra are referenced by dotted name and imported only when run (:func:`lazy`), so the plugin's own
commands work without fastapi/uvicorn installed; without the extra a server command says so in
one line (:data:`SERVER_EXTRA_MISSING`) and exits 2. Grouped commands (``token create``, ``repo
create``, ``run create``) hang off :func:`group`, which returns the same group on every call so
several ``add_*`` functions can extend one group.

Conventions: machine output (a token, an id) alone on stdout; messages on stderr; exit 0 on
success, 2 when the command itself failed.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Callable
from typing import Any

from .settings import DEFAULT_BASELINE_TEMPLATE

Handler = Callable[[argparse.Namespace], int]

SERVER_EXTRA_MISSING = "the review server needs its extra: pip install 'pytest-visualreview[server]'"
#: The modules of the server extra (pyproject.toml), checked before a server command is imported.
SERVER_EXTRA_MODULES = ("fastapi", "uvicorn", "multipart", "zstandard")


def server_extra_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in SERVER_EXTRA_MODULES)


def lazy(target: str) -> Handler:
    """A handler that imports ``module:function`` on first call (keeps extras optional).

    A target in the server package first checks that the server extra is installed, so a user
    without it reads one line saying what to install instead of an import traceback."""
    module_name, _, function_name = target.partition(":")
    needs_server = module_name.startswith(f"{__package__}.server")

    def handler(args: argparse.Namespace) -> int:
        if needs_server and not server_extra_installed():
            print(SERVER_EXTRA_MISSING, file=sys.stderr)
            return 2
        module = importlib.import_module(module_name)
        return int(getattr(module, function_name)(args) or 0)

    return handler


def group(subparsers: Any, name: str, help_text: str) -> Any:
    """The sub-subparsers of group ``name`` (``token``, ``repo``, ``run`` ...), created once."""
    groups: dict[str, Any] = subparsers.__dict__.setdefault("_vr_groups", {})
    if name not in groups:
        parser = subparsers.add_parser(name, help=help_text, description=help_text)
        groups[name] = parser.add_subparsers(dest=f"{name}_command", required=True)
    return groups[name]


def _data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", required=True, help="server data folder (SQLite database and blobs)"
    )


def _project(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", type=int, default=1, help="project id (default: 1)")


def add_serve(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "serve", help="run the review server", description="Run the review server (uvicorn)."
    )
    _data_dir(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--public-url", default=None,
        help="base URL clients reach the server at (default: taken from each request)",
    )
    parser.add_argument(
        "--diff-workers", dest="diff_workers", type=int, default=None,
        help="diff worker processes (default: CPU count; 1 = diff inside the server process)"
    )
    parser.add_argument(
        "--blob-url", default=None,
        help="where blobs live: s3://BUCKET/PREFIX (uploads then go straight to the bucket) or "
        "file:///PATH (default: the data folder)",
    )
    parser.add_argument(
        "--s3-endpoint-url", default=None,
        help="S3-compatible endpoint, e.g. MinIO's (default: AWS_ENDPOINT_URL, else AWS)",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    parser.add_argument(
        "--no-access-log", dest="access_log", action="store_false", help="no per-request log"
    )
    parser.set_defaults(func=lazy("pytest_visualreview.server.cli:cmd_serve"))


def add_token(subparsers: Any) -> None:
    tokens = group(subparsers, "token", "API token administration")
    parser = tokens.add_parser("create", help="create an API token and print it")
    _data_dir(parser)
    _project(parser)
    parser.add_argument(
        "--scope", action="append", required=True,
        help="scope to grant, e.g. visual_review:read (repeat for several)",
    )
    parser.add_argument("--name", default=None, help="a label shown as the reviewer's name")
    parser.set_defaults(func=lazy("pytest_visualreview.server.cli:cmd_token_create"))
    revoke = tokens.add_parser("revoke", help="revoke an API token (it answers 401 from now on)")
    _data_dir(revoke)
    revoke.add_argument("token", help="the token to revoke, as printed by 'token create'")
    revoke.set_defaults(func=lazy("pytest_visualreview.server.cli:cmd_token_revoke"))


def add_repo(subparsers: Any) -> None:
    repos = group(subparsers, "repo", "repository administration")
    parser = repos.add_parser("create", help="create a repo and print its id")
    _data_dir(parser)
    _project(parser)
    parser.add_argument("name", help="repository name, e.g. owner/name")
    parser.add_argument("--external-id", type=int, default=None, help="GitHub numeric repo id")
    parser.add_argument(
        "--trust-unsigned", action="store_true",
        help="accept unsigned hashes from snapshots.yml as baselines (moving from local mode)",
    )
    parser.set_defaults(func=lazy("pytest_visualreview.server.cli:cmd_repo_create"))


def _server_target(parser: argparse.ArgumentParser) -> None:
    """Where the server is; each falls back to the config block of snapshots.yml."""
    parser.add_argument("--url", help="review server base URL (default: config.api of the baseline file)")
    parser.add_argument("--project", help="project (team) id (default: config.team)")
    parser.add_argument("--repo", help="repo id (default: config.repo)")
    parser.add_argument("--baseline", default="snapshots.yml", help="path of snapshots.yml")
    parser.add_argument("--deadline", help="seconds to wait for the verdict (default 900)")


def add_run(subparsers: Any) -> None:
    runs = group(subparsers, "run", "sharded runs: create one, let shards add to it, complete it")
    create = runs.add_parser("create", help="create an empty run and print its id")
    _server_target(create)
    create.add_argument("--run-type", default=None, help="run type (default playwright)")
    create.add_argument("--purpose", default=None, help="review (default) or observe")
    create.add_argument("--partial", action="store_true", help="not the whole suite: no removals")
    create.add_argument("--branch", help="branch (default: CI environment, else git)")
    create.add_argument("--commit", help="commit SHA (default: CI environment, else git)")
    create.add_argument("--pr", help="pull request number (default: CI environment)")
    create.set_defaults(func=lazy("pytest_visualreview.client.cli:cmd_run_create"))
    complete = runs.add_parser("complete", help="complete a run, wait, exit 0 clean/1 changes/2 error")
    _server_target(complete)
    complete.add_argument("run_id", help="the id `visualreview run create` printed")
    complete.set_defaults(func=lazy("pytest_visualreview.client.cli:cmd_run_complete"))


def add_upload(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "upload", help="send runs spooled while the server was unreachable",
        description="Send the runs in a spool folder (.visual-review/spool/) and delete them once sent.",
    )
    parser.add_argument("path", help="the spool folder, or one spooled run in it")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds to wait per run")
    parser.add_argument("--url", help="send to this server instead of the one each run was meant for")
    parser.set_defaults(func=lazy("pytest_visualreview.client.cli:cmd_upload"))


def add_pull(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "pull", help="write a reviewed run's approvals into the working tree",
        description="Write the signed snapshots.yml of a run whose changes were approved on the "
        "review page, and its approved images as local baselines (what a bot commit would do).",
    )
    _server_target(parser)
    parser.add_argument("run_id", nargs="?", help="the run (default: the newest on the branch)")
    parser.add_argument("--branch", help="branch (default: git)")
    parser.add_argument("--run-type", default=None, help="run type (default playwright)")
    parser.add_argument("--rootdir", default=".", help="pytest rootdir (default: here)")
    parser.add_argument(
        "--template", default=DEFAULT_BASELINE_TEMPLATE,
        help="baseline path template, as ini visual_review_baseline_template",
    )
    parser.set_defaults(func=lazy("pytest_visualreview.client.cli:cmd_pull"))


#: Subcommand registrars, in help order. Add new ones here.
COMMANDS: list[Callable[[Any], None]] = [add_serve, add_token, add_repo, add_run, add_upload, add_pull]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="visualreview", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
