"""The wheel is the product: build it once, install it (not editable) into fresh virtualenvs the way
a user would, and run a small suite through `pytest`, `--visual-review`, `--approve` and a clean rerun.

Three installs: (1) core dependencies only (no pytest-xdist, no server extra); (2) beside syrupy and
pytest-xdist; (3) with pytest-html. Each venv gets only what its user would install; pip's cache
keeps the downloads to the first run. The report each install writes is opened in real Chromium
(the viewer's CSS/JS are package data, so a wheel missing them shows up here).
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

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]

ROOT = Path(__file__).resolve().parents[1]
COLOUR_FILE = "colour.txt"

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


def _venv(where: Path, wheel: Path, *extra: str) -> Path:
    """A fresh virtualenv (no pip of its own: the outer pip installs into it) with the wheel."""
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", where], cwd=where.parent), "venv")
    python = where / "bin" / "python"
    _ok(_run([sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel, *extra], cwd=where.parent),
        f"pip install {wheel.name} {' '.join(extra)}")
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


def _lifecycle(python: Path, project: Path, *args: str) -> dict[str, bytes]:
    """pytest (nothing captured), --visual-review (new: fails), --approve, a clean rerun, then a
    changed image (fails with the verdict first in the summary). Returns the baselines."""
    pytest_cmd = [python, "-m", "pytest", "-p", "no:cacheprovider", *args]
    _ok(_run(pytest_cmd, project), "plain pytest")
    assert _baselines(project) == {} and not (project / ".visual-review").exists()

    new = _run([*pytest_cmd, "--visual-review"], project)
    assert new.returncode == 1, new.stdout + new.stderr
    assert "snapshot 'swatch' is new: no baseline yet; run with --approve" in new.stdout

    _ok(_run([*pytest_cmd, "--approve"], project), "--approve")
    baselines = _baselines(project)
    assert baselines and all("__visual_snapshots__" in path for path in baselines)
    clean = _ok(_run([*pytest_cmd, "--visual-review"], project), "clean --visual-review")
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


def test_core_install_without_xdist_or_server_extra(wheel: Path, tmp_path: Path, page: Page) -> None:
    python = _venv(tmp_path / "venv", wheel)
    for absent in ("xdist", "syrupy", "pytest_html", "fastapi", "uvicorn"):
        probe = _run([python, "-c", f"import {absent}"], tmp_path)
        assert probe.returncode != 0, f"{absent} leaked into the core-only install"
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

    visualreview = tmp_path / "venv" / "bin" / "visualreview"
    for command in (
        ["serve", "--data-dir", "data"],
        ["token", "create", "--data-dir", "data", "--scope", "visual_review:read"],
        ["token", "revoke", "--data-dir", "data", "tok"],
        ["repo", "create", "--data-dir", "data", "owner/name"],
    ):
        result = _run([visualreview, *command], tmp_path)
        assert (result.returncode, result.stdout, result.stderr) == (2, "", SERVER_EXTRA_MISSING + "\n"), command
    assert not (tmp_path / "data").exists()


def test_beside_syrupy_and_xdist(wheel: Path, tmp_path: Path, page: Page) -> None:
    python = _venv(tmp_path / "venv", wheel, "syrupy", "pytest-xdist")
    project = _project(tmp_path / "project", {
        "test_plain.py": PLAIN_TEST,
        "test_image.py": IMAGE_TEST.format(fixture="visual_snapshot"),
        "test_syrupy.py": SYRUPY_TEST,
    })
    pytest_cmd = [python, "-m", "pytest", "-p", "no:cacheprovider"]
    _ok(_run([*pytest_cmd, "--snapshot-update"], project), "syrupy --snapshot-update")
    syrupy_file = project / "__snapshots__" / "test_syrupy.ambr"
    assert syrupy_file.is_file()

    baselines = _lifecycle(python, project)  # `snapshot` stays syrupy's throughout
    _report_opens_with_its_viewer(page, project)
    distributed = _ok(_run([*pytest_cmd, "-n", "2", "--visual-review"], project), "-n 2")
    assert "3 passed" in distributed and "1 unchanged" in distributed  # workers' records merged

    update = _ok(_run([*pytest_cmd, "--snapshot-update", "--visual-review"], project), "--snapshot-update")
    assert "deleted" not in update.lower() and "unused" not in update.lower(), update
    assert _baselines(project) == baselines  # syrupy never sees our files
    assert sorted(p.name for p in (project / "__snapshots__").iterdir()) == ["test_syrupy.ambr"]

    syrupy_file.write_text(syrupy_file.read_text().replace("'syrupy'", "'changed'"), encoding="utf-8")
    broken = _run([*pytest_cmd, "-p", "no:xdist", "--visual-review"], project)
    assert broken.returncode == 1 and "test_syrupy.py::test_data" in broken.stdout  # syrupy still judges
    _ok(_run([*pytest_cmd, "--snapshot-update", "-p", "no:xdist"], project), "syrupy repairs its file")
    no_xdist = _ok(_run([*pytest_cmd, "-p", "no:xdist", "--visual-review"], project), "-p no:xdist")
    assert "1 unchanged" in no_xdist
    assert _baselines(project) == baselines


def test_with_pytest_html(wheel: Path, tmp_path: Path, page: Page) -> None:
    python = _venv(tmp_path / "venv", wheel, "pytest-html")
    project = _project(tmp_path / "project", {
        "test_plain.py": PLAIN_TEST,
        "test_image.py": IMAGE_TEST.format(fixture="snapshot"),
    })
    _lifecycle(python, project, "--html=html/index.html", "--self-contained-html")
    _report_opens_with_its_viewer(page, project)
    html = (project / "html" / "index.html").read_text(encoding="utf-8")
    assert "swatch: expected" in html and "swatch: diff" in html  # images attached to pytest-html
