"""The review pages' identifier search finds the same snapshots on both stores: a substring,
case ignored, LIKE's wildcards matched literally (SQLite's LIKE ignores ASCII case, PostgreSQL's
does not, so the query lowers both sides)."""

from __future__ import annotations

import pytest

from pytest_visualreview.server.ui import queries

from .live_server import LiveServer
from .server_helpers import Client, page

pytestmark = pytest.mark.backends()


def test_search_ignores_case_and_matches_wildcards_literally(
    server: LiveServer, client: Client
) -> None:
    names = ["Checkout-Page", "checkout_50%", "checkoutX50", "Home"]
    run = client.submit({name: page(80 + n) for n, name in enumerate(names)})
    assert run["status"] == "completed" and run["summary"]["new"] == 4

    def found(search: str) -> list[str]:
        rows = queries.snapshots(server.store, run["id"], "new", limit=10, offset=0, search=search)
        assert queries.count(server.store, run["id"], "new", search=search) == len(rows)
        return sorted(row.identifier for row in rows)

    assert found("CHECKOUT") == ["Checkout-Page", "checkoutX50", "checkout_50%"]
    assert found("checkout-page") == ["Checkout-Page"]
    assert found("_50%") == ["checkout_50%"], "_ and % are characters, not wildcards"
    assert found("home") == ["Home"]
    assert found("nothing") == []
