"""The wheel is the product: build it once, install it (not editable) into fresh virtualenvs the way
a user would, and run a small suite through `pytest`, `--visual-review`, `--approve` and a clean rerun.

Four installs: (1) core dependencies only (no pytest-xdist, no server extra); (2) beside syrupy and
pytest-xdist; (3) with pytest-html; (4) with the server extras, running the PostgreSQL + S3
deployment that docs/server.md describes. Each venv holds only what its user would install: (1) is made
with `pip install <wheel>` into an empty venv; (2), (3) and (4) are copies of (1) plus their packages, because unpacking the core dependencies (Playwright's driver, numpy)
is most of an install's time and gives the same files every time. pip's cache keeps downloads to
the first run. The report each install writes is opened in real Chromium (the viewer's CSS/JS are
package data, so a wheel missing them shows up here).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from playwright.sync_api import Page

from pytest_visualreview.cli import SERVER_EXTRA_MISSING

from .server.postgres import Postgres
from .server.s3_server import CREDENTIALS, MotoS3

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]

ROOT = Path(__file__).resolve().parents[1]
COLOUR_FILE = "colour.txt"
OPTIONAL_MODULES = ("xdist", "syrupy", "pytest_html", "fastapi", "uvicorn", "zstandard")

PLAIN_TEST = """
def test_plain():
    assert sorted([3, 1, 2]) == [1, 2, 3]
"""

IMAGE_TEST = """
from pathlib import Path
from PIL import Image

def test_image({fixture}):
    colour = (Path(__file__).parent / "colour.txt").read_text().strip()
    {fixture}(Image.new("RGB", (40, 20), colour), "swatch")
"""

PAGE_TEST = """
def test_page(page, snapshot):
    page.set_content("<body style='margin:0'><div style='width:80px;height:30px;background:#2d8c4e'></div>")
    snapshot(page.locator("div"), "box")
"""

SYRUPY_TEST = """
def test_data(snapshot):
    assert {"name": "syrupy", "values": [1, 2, 3]} == snapshot
"""


def _clean_env() -> dict[str, str]:
    """The outer session's environment minus what would leak into a user's run (this process is
    itself an xdist worker, and syrupy reads PYTEST_XDIST_WORKER)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "VIRTUAL_ENV", "PYTHONPATH", "COV_"))
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["COLUMNS"] = "200"  # the short test summary is cut to the terminal width
    return env


def _run(args: list[str | Path], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=_clean_env(), capture_output=True, text=True,
        timeout=timeout, check=False,
    )


def _ok(result: subprocess.CompletedProcess[str], what: str) -> str:
    assert result.returncode == 0, f"{what} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built once from a copy of the working tree (the build leaves no files behind)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "pytest_visualreview", source / "pytest_visualreview",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    out = tmp_path_factory.mktemp("dist")
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, source], cwd=out), "pip wheel")
    (built,) = out.glob("pytest_visualreview-*.whl")
    return built


def _pip_install(python: Path, *requirements: str | Path) -> None:
    _ok(_run([sys.executable, "-m", "pip", "--python", python, "install", "-q", *requirements], cwd=python.parent),
        f"pip install {' '.join(map(str, requirements))}")


@pytest.fixture(scope="module")
def core_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (no pip of its own: the outer pip installs into it) with the wheel and
    its core dependencies only. Test (1) runs in it; the others copy it (its runs add only
    bytecode caches, which a fresh install's first run would write too)."""
    where = tmp_path_factory.mktemp("core") / "venv"
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", where], cwd=where.parent), "venv")
    _pip_install(where / "bin" / "python", wheel)
    return where


def _venv(core_venv: Path, where: Path, *extra: str) -> Path:
    """A copy of the core install plus `extra` packages, as `pip install <wheel> extra...` gives."""
    shutil.copytree(core_venv, where, symlinks=True)
    python = where / "bin" / "python"
    _pip_install(python, *extra)
    return python


def _project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    (root / COLOUR_FILE).write_text("rgb(200, 40, 40)", encoding="utf-8")
    for name, source in files.items():
        (root / name).write_text(textwrap.dedent(source), encoding="utf-8")
    return root


def _baselines(project: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(project)): path.read_bytes()
        for path in sorted(project.glob("**/__visual_snapshots__/**/*.png"))
    }


def _lifecycle(python: Path, project: Path, *args: str, clean_args: tuple[str, ...] = ()) -> dict[str, bytes]:
    """pytest (nothing captured), --visual-review (new: fails), --approve, a clean rerun (with
    `clean_args`), then a changed image (fails with the verdict first in the summary).
    Returns the baselines."""
    pytest_cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", *args]
    _ok(_run(pytest_cmd, project), "plain pytest")
    assert _baselines(project) == {} and not (project / ".visual-review").exists()

    new = _run([*pytest_cmd, "--visual-review"], project)
    assert new.returncode == 1, new.stdout + new.stderr
    assert "snapshot 'swatch' is new: no baseline yet; run with --approve" in new.stdout

    _ok(_run([*pytest_cmd, "--approve"], project), "--approve")
    baselines = _baselines(project)
    assert baselines and all("__visual_snapshots__" in path for path in baselines)
    clean = _ok(_run([*pytest_cmd, "--visual-review", *clean_args], project), "clean --visual-review")
    assert f"{len(baselines)} unchanged" in clean

    (project / COLOUR_FILE).write_text("rgb(40, 80, 200)", encoding="utf-8")
    changed = _run([*pytest_cmd, "--visual-review", "-rf"], project)
    (project / COLOUR_FILE).write_text("rgb(200, 40, 40)", encoding="utf-8")
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert " - snapshot 'swatch' differs: 800 px (100.0%), 0 allowed" in changed.stdout, changed.stdout
    assert _baselines(project) == baselines  # a failing run never touches a baseline
    return baselines


def _report_opens_with_its_viewer(page: Page, project: Path) -> None:
    """The changed snapshot's viewer works from file://: its script switches the view mode."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto((project / ".visual-review" / "report.html").as_uri())
    viewer = page.locator('.vr-item[data-identifier="test_image--test_image--swatch"] .vr-viewer')
    assert viewer.get_attribute("data-mode") == "side"
    widths = viewer.locator('.vr-pane[data-pane="side"] img').evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [40, 40, 40]  # expected, actual and diff all load
    viewer.get_by_role("button", name="Overlay").click()
    assert viewer.get_attribute("data-mode") == "overlay"
    assert problems == []


def test_core_install_without_xdist_or_server_extra(core_venv: Path, tmp_path: Path, page: Page) -> None:
    python = core_venv / "bin" / "python"
    probe = "import importlib.util as u; print([m for m in {!r} if u.find_spec(m)])"
    leaked = _ok(_run([python, "-c", probe.format(OPTIONAL_MODULES)], tmp_path), "probe")
    assert leaked.strip() == "[]", f"not a core-only install: {leaked}"
    project = _project(tmp_path / "project", {
        "test_plain.py": PLAIN_TEST,
        "test_image.py": IMAGE_TEST.format(fixture="snapshot"),
        "test_page.py": PAGE_TEST,
    })
    baselines = _lifecycle(python, project)
    assert sorted(baselines) == [
        "__visual_snapshots__/test_image/test_image--test_image--swatch.png",
        "__visual_snapshots__/test_page/test_page--test_page-chromium--box.png",
    ]
    _report_opens_with_its_viewer(page, project)

    visualreview = [core_venv / "bin" / "visualreview"]  # the console script the wheel installs
    for command in (
        ["serve", "--data-dir", "data"],
        ["token", "create", "--data-dir", "data", "--scope", "visual_review:read"],
        ["token", "revoke", "--data-dir", "data", "tok"],
        ["repo", "create", "--data-dir", "data", "owner/name"],
    ):
        result = _run([*visualreview, *command], tmp_path)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", SERVER_EXTRA_MISSING + "\n"), command
    assert not (tmp_path / "data").exists()


def test_beside_syrupy_and_xdist(core_venv: Path, tmp_path: Path, page: Page) -> None:
    python = _venv(core_venv, tmp_path / "venv", "syrupy", "pytest-xdist")
    project = _project(tmp_path / "project", {
        "test_plain.py": PLAIN_TEST,
        "test_image.py": IMAGE_TEST.format(fixture="visual_snapshot"),
        "test_syrupy.py": SYRUPY_TEST,
    })
    pytest_cmd = [python, "-m", "pytest", "-p", "no:cacheprovider"]
    _ok(_run([*pytest_cmd, "--snapshot-update"], project), "syrupy --snapshot-update")
    syrupy_file = project / "__snapshots__" / "test_syrupy.ambr"
    assert syrupy_file.is_file()

    # `snapshot` stays syrupy's throughout; the clean rerun goes through two xdist workers.
    baselines = _lifecycle(python, project, clean_args=("-n", "2"))
    _report_opens_with_its_viewer(page, project)

    syrupy_text = syrupy_file.read_text(encoding="utf-8")
    syrupy_file.write_text(syrupy_text.replace("'syrupy'", "'changed'"), encoding="utf-8")
    update = _ok(_run([*pytest_cmd, "-p", "no:xdist", "--snapshot-update", "--visual-review"], project),
                 "--snapshot-update without xdist")
    assert "1 unchanged" in update and "snapshot updated" in update, update  # both plugins at work
    assert "deleted" not in update.lower() and "unused" not in update.lower(), update
    assert syrupy_file.read_text(encoding="utf-8") == syrupy_text  # syrupy rewrote its own file
    assert _baselines(project) == baselines  # and never saw ours
    assert sorted(p.name for p in (project / "__snapshots__").iterdir()) == ["test_syrupy.ambr"]


def test_with_pytest_html(core_venv: Path, tmp_path: Path, page: Page) -> None:
    python = _venv(core_venv, tmp_path / "venv", "pytest-html")
    project = _project(tmp_path / "project", {
        "test_plain.py": PLAIN_TEST,
        "test_image.py": IMAGE_TEST.format(fixture="snapshot"),
    })
    _lifecycle(python, project, "--html=html/index.html", "--self-contained-html")
    _report_opens_with_its_viewer(page, project)
    html = (project / "html" / "index.html").read_text(encoding="utf-8")
    assert "swatch: expected" in html and "swatch: diff" in html  # images attached to pytest-html


def test_the_wheel_with_its_server_extras_runs_the_multi_machine_deployment(
    wheel: Path, core_venv: Path, tmp_path: Path, postgres: Postgres, moto_s3: MotoS3
) -> None:
    """`pip install '<wheel>[server,postgres,s3]'`, then docs/server.md's deployment from the
    installed package: admin commands, an API-only `serve --no-worker` and a `worker` on
    PostgreSQL + the bucket (configured by environment, as the docs show), and the plugin from the
    same install sending a run to it: images straight to the bucket, verified by the worker."""
    from .server.live_server import free_port

    python = _venv(core_venv, tmp_path / "venv", f"{wheel}[server,postgres,s3]")
    # `python -m`: the venv is a copy, whose console scripts still name the original's python.
    visualreview = [str(python), "-m", "pytest_visualreview.cli"]
    prefix = moto_s3.new_prefix()
    env = {
        **_clean_env(), **CREDENTIALS,
        "VISUALREVIEW_DATABASE_URL": postgres.new_database("wheel"),
        "VISUALREVIEW_BLOB_URL": f"s3://{moto_s3.bucket}/{prefix}",
        "AWS_ENDPOINT_URL": moto_s3.endpoint,
    }

    def admin(*args: str) -> str:
        result = subprocess.run([*visualreview, *args], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=120, check=False)
        return _ok(result, f"visualreview {' '.join(args)}").strip()

    token = admin("token", "create", "--scope", "visual_review:write")
    repo = admin("repo", "create", "acme/wheel")
    port = free_port()
    logs = [open(tmp_path / f"{name}.log", "w") for name in ("api", "worker")]  # noqa: SIM115
    processes = [
        subprocess.Popen([*visualreview, "serve", "--no-worker", "--host", "127.0.0.1", "--port",
                          str(port)], cwd=tmp_path, env=env, stdout=logs[0], stderr=subprocess.STDOUT),
        subprocess.Popen([*visualreview, "worker"], cwd=tmp_path, env=env, stdout=logs[1],
                         stderr=subprocess.STDOUT),
    ]
    try:
        project = _project(tmp_path / "project", {
            "test_image.py": IMAGE_TEST.format(fixture="snapshot"), "test_page.py": PAGE_TEST,
        })
        sent = subprocess.run(
            [python, "-m", "pytest", "-p", "no:cacheprovider", "--visual-review",
             "--visual-review-url", f"http://127.0.0.1:{port}", "--visual-review-project", "1",
             "--visual-review-repo", repo, "--visual-review-branch", "main",
             "--visual-review-commit", "c0ffee"],
            cwd=project, env={**env, "VISUAL_REVIEW_TOKEN": token}, capture_output=True,
            text=True, timeout=300, check=False,
        )
        out = sent.stdout + sent.stderr
        assert "review server: run " in out and ": 0 changed, 2 new, 0 removed" in out, out
        assert "uploaded 2 images" in out, out
        keys = moto_s3.keys(prefix)
        assert len([k for k in keys if "/blobs/" in k]) == 2, keys  # verified by the worker
        assert not [k for k in keys if "/uploads/" in k], "verified uploads are removed"
    finally:
        for process in processes:
            process.terminate()
        for process, log in zip(processes, logs, strict=True):
            process.wait(30)
            log.close()
