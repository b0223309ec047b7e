"""The real sentry-cli (npm @sentry/cli, pinned) uploading folders of PNGs to the reference server.

This is the issue's acceptance test: the official client, pointed at our server with SENTRY_URL,
uploads a base folder and a head folder (with sidecar metadata, a subdirectory, a rename, a change,
an addition and a removal), and the details endpoint reads back the comparison. It installs
sentry-cli into a cache folder on first use (npm must reach its registry) and fails, not skips,
when it cannot.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import Sentry, png, sha
from .sentry_cli import ensure_sentry_cli
from .test_live_api import assert_seed_shape, names

pytestmark = [
    pytest.mark.slow,
    pytest.mark.backends(),
]


@pytest.fixture(scope="session")
def sentry_cli() -> Path:
    try:
        return ensure_sentry_cli()
    except RuntimeError as exc:
        pytest.fail(f"cannot run the sentry-cli interop test: {exc}", pytrace=False)


def write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


def run_cli(cli: Path, sentry: Sentry, folder: Path, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(folder.parent),  # no ~/.sentryclirc of the user
        "SENTRY_URL": sentry.url,
        "SENTRY_AUTH_TOKEN": sentry.token,
        "SENTRY_ORG": "default",
        "SENTRY_PROJECT": "default",
        "SENTRY_DISABLE_UPDATE_CHECK": "1",
    }
    proc = subprocess.run(
        [str(cli), "snapshots", *args],
        env=env,
        cwd=folder.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"sentry-cli failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def created_id(output: str) -> str:
    for line in output.splitlines():
        if "Created snapshot " in line:
            return line.split("Created snapshot ", 1)[1].split()[0]
    raise AssertionError(f"no 'Created snapshot' line in:\n{output}")


def test_sentry_cli_uploads_and_the_comparison_reads_back(
    sentry_cli: Path, sentry: Sentry, app_id: str, tmp_path: Path
) -> None:
    red, blue, green = (200, 30, 30, 255), (30, 30, 200, 255), (30, 200, 30, 255)
    base = write(
        tmp_path / "base",
        {
            "home.png": png(40, 30, red),
            "flows/login.png": png(20, 20, blue),
            "old-name.png": png(12, 12, green),
            "gone.png": png(8, 8, red),
        },
    )
    (base / "home.json").write_text(
        json.dumps({"display_name": "Home", "group": "Web", "tags": ["smoke"], "owner": "ui-team"})
    )
    vcs = ["--vcs-provider", "github", "--head-repo-name", "acme/web", "--head-ref", "main"]
    upload = ["upload", "--app-id", app_id]
    out = run_cli(sentry_cli, sentry, base, *upload, str(base), "--head-sha", sha(901), *vcs)
    base_id = created_id(out)
    assert "4 images" in out

    head = write(
        tmp_path / "head",
        {
            "home.png": png(40, 30, red, dot=True),
            "flows/login.png": png(20, 20, blue),
            "new-name.png": png(12, 12, green),
            "added.png": png(6, 6, blue),
        },
    )
    (head / "home.json").write_text(json.dumps({"display_name": "Home", "group": "Web"}))
    pr = ["--base-sha", sha(901), "--base-repo-name", "acme/web", "--base-ref", "main"]
    pr += ["--pr-number", "5", *vcs[:4], "--head-ref", "feature"]
    out = run_cli(sentry_cli, sentry, head, *upload, str(head), "--head-sha", sha(902), *pr)
    assert "already uploaded" in out or "Uploaded" in out
    head_id = created_id(out)

    details = sentry.settled(head_id)
    assert_seed_shape(details)
    assert details["comparison_state"] == "success"
    assert details["base_artifact_id"] == base_id
    assert names(details["changed"]) == ["home.png"]
    assert details["changed"][0]["diff"] == pytest.approx(1 / 1200)
    assert names(details["added"]) == ["added.png"]
    assert names(details["removed"]) == ["gone.png"]
    assert names(details["unchanged"]) == ["flows/login.png"]
    assert [
        (p["base_image"]["image_file_name"], p["head_image"]["image_file_name"]) for p in details["renamed"]
    ] == [("old-name.png", "new-name.png")]
    assert details["vcs_info"]["pr_number"] == 5
    base_details = sentry.details(base_id)
    home = next(i for i in base_details["images"] if i["image_file_name"] == "home.png")
    assert home["display_name"] == "Home" and home["tags"] == {"smoke": "smoke"}
    assert home["owner"] == "ui-team"  # sidecar extras are kept and echoed

    image = sentry.get(
        f"/api/0/organizations/default/preprodartifacts/snapshots/{head_id}/images/home.png/"
    ).json()
    assert image["comparison_status"] == "changed"
    assert sentry.get(image["diff_image_url"]).status_code == 200

    # and back down: `snapshots download` resolves the latest base and unpacks its archive
    target = tmp_path / "downloaded"
    out = run_cli(sentry_cli, sentry, base, "download", "--app-id", app_id, "--output", str(target))
    assert f"snapshot {base_id}" in out
    got = sorted(str(p.relative_to(target)) for p in target.rglob("*.png"))
    assert got == ["flows/login.png", "gone.png", "home.png", "old-name.png"]
    assert (target / "home.png").read_bytes() == (base / "home.png").read_bytes()
