"""Behind a TLS proxy (`serve --public-url https://...`): Secure cookies, and the public origin's
forms are accepted while other sites' are still refused. Plain HTTP, no browser: the proxy is
simulated by the headers a browser on the public URL would send."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.server.live_server import LiveServer

from .ui_seed import READ, WRITE, Client, seed

PUBLIC = "https://review.example.com"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer.start(
        Path(tmp_path_factory.mktemp("proxied")), extra_args=("--public-url", PUBLIC)
    )
    yield server
    server.stop()


def test_public_origin_and_secure_cookies(proxied: LiveServer) -> None:
    token = proxied.token(READ, WRITE, name="reviewer")
    client = Client(proxied.api(), token, rewrite=(PUBLIC, proxied.url))
    seeded = seed(client, proxied.repo("acme/web", trust_unsigned=True))
    form = requests.get(proxied.url + "/ui/sign-in", timeout=10)
    nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert nonce and "secure" in form.headers["set-cookie"].lower()
    signed_in = requests.post(
        proxied.url + "/ui/sign-in",
        data={"token": token, "csrf": nonce.group(1)},
        cookies={"vr_signin": nonce.group(1)},
        headers={"Origin": PUBLIC},
        allow_redirects=False,
        timeout=10,
    )
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert "vr_session=" in cookie and "Secure" in cookie and "HttpOnly" in cookie
    session = {"vr_session": signed_in.cookies["vr_session"]}
    page = requests.get(proxied.url + f"/ui/runs/{seeded.pr_run}", cookies=session, timeout=10)
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf

    def approve(origin: str) -> int:
        return requests.post(
            proxied.url + f"/ui/runs/{seeded.pr_run}/approve",
            data={"csrf": csrf.group(1), "all": "1"},
            cookies=session,
            headers={"Origin": origin},
            allow_redirects=False,
            timeout=10,
        ).status_code

    assert approve("https://evil.example") == 403
    assert approve(PUBLIC) == 303
