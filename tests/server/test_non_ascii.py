"""Non-ASCII in any secret a client sends (a signature field, a cookie, a CSRF field, a token)
and a huge ``?page=`` answer a 4xx, never a 500: secrets are compared as bytes."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from .live_server import LiveServer
from .server_helpers import Client, item, page, signed_in, upload_file

NON_ASCII = "sïgnature"


@pytest.fixture(scope="module")
def target(server: LiveServer) -> dict[str, Any]:
    client = Client(server.api(), server.token(), server.repo("acme/non-ascii"))
    image = page(11)
    created = client.create_run([item("x", image)])
    upload = created["uploads"][0]
    return {"client": client, "run": created["run_id"], "upload": upload, "png": image.png}


def _upload_signature(server: LiveServer, t: dict[str, Any]) -> requests.Response:
    fields = {k: (NON_ASCII if k == "x-vr-signature" else v) for k, v in t["upload"]["fields"].items()}
    return upload_file(t["upload"], t["png"], fields=fields)


def _blob_download(server: LiveServer, t: dict[str, Any]) -> requests.Response:
    return requests.get(f"{server.url}/blobs/{'a' * 64}?expires=9999999999&signature={NON_ASCII}", timeout=30)


def _session_cookie(server: LiveServer, t: dict[str, Any]) -> requests.Response:
    return requests.get(
        f"{server.url}/ui/repos",
        cookies={"vr_session": f"v1.{NON_ASCII}.ü"},
        allow_redirects=False,
        timeout=30,
    )


def _sign_in(
    server: LiveServer, t: dict[str, Any], token: str, csrf: str | None
) -> requests.Response:
    """Submit the sign-in form; ``csrf=None`` sends the form's own (valid) CSRF value."""
    browser = requests.Session()
    form = browser.get(f"{server.url}/ui/sign-in", timeout=30).text
    if csrf is None:
        csrf = form.split('name="csrf" value="')[1].split('"')[0]
    return browser.post(
        f"{server.url}/ui/sign-in",
        data={"token": token, "csrf": csrf},
        headers={"Origin": server.url},
        allow_redirects=False,
        timeout=30,
    )


def _runs_page(server: LiveServer, t: dict[str, Any]) -> requests.Response:
    browser = signed_in(server)
    repo = t["client"].repo_id
    return browser.get(f"{server.url}/ui/repos/{repo}/runs?page=99999999999999999999", timeout=30)


def _run_page(server: LiveServer, t: dict[str, Any]) -> requests.Response:
    browser = signed_in(server)
    return browser.get(f"{server.url}/ui/runs/{t['run']}?page=99999999999999999999", timeout=30)


def _objectstore_token(server: LiveServer, t: dict[str, Any]) -> requests.Response:
    os_objects = "/api/0/organizations/default/objectstore/v1/objects/preprod/org=1;project=1"
    forged = "Bearer vros1.1.w.9999999999.s\u00efg".encode()  # UTF-8 on the wire
    return requests.get(f"{server.url}{os_objects}/1/1/{'a' * 64}",
                        headers={"x-os-auth": forged}, timeout=30)


#: case -> (request, how the answer names the field: JSON ``attr`` or text in the page)
CASES = {
    "upload signature field": (_upload_signature, {"attr": "x-vr-signature"}),
    "objectstore token": (_objectstore_token, {"attr": "x-os-auth"}),
    "blob download signature": (_blob_download, {"attr": "signature"}),
    "vr_session cookie": (_session_cookie, None),  # signed out: a redirect to the sign-in page
    "sign-in token": (lambda s, t: _sign_in(s, t, NON_ASCII, None), {"text": "token:"}),
    "sign-in csrf field": (lambda s, t: _sign_in(s, t, "vrt_x", NON_ASCII), {"text": "csrf field"}),
    "runs page ?page=": (_runs_page, None),
    "run page ?page=": (_run_page, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_non_ascii_secrets_and_huge_pages_never_give_a_500(
    server: LiveServer, target: dict[str, Any], case: str
) -> None:
    send, names = CASES[case]
    response = send(server, target)
    assert response.status_code < 500, (case, response.status_code, response.text[:300])
    if names is None:
        return
    assert 400 <= response.status_code < 500, (case, response.status_code)
    if "attr" in names:
        assert response.json()["attr"] == names["attr"], response.text
        assert names["attr"] in response.json()["detail"], response.text
    else:
        assert names["text"] in response.text, response.text[:2000]
