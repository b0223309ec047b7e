"""Entry point the server's app factory looks for: ``install(app, context)`` adds the review pages.

The pages live under ``/ui/`` (plus ``/``, PostHog's run link and the favicon: :mod:`.addresses`)
and share the API's store and domain functions; they add no tables.
"""

from __future__ import annotations

from fastapi import FastAPI

from ..context import ServerContext
from . import actions, addresses, media, pages, run_page


def install(app: FastAPI, context: ServerContext) -> None:
    """Mount the review pages, their actions, images and assets on `app`."""
    del context  # routes read it from app.state.context per request
    for module in (pages, run_page, actions, media, addresses):
        app.include_router(module.router)
