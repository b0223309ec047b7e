"""The data folder at start: private modes on a fresh one, a warning when loosened, one clear line
and exit 2 when it cannot be written, and kill -9 leftovers in the blob folder removed."""

from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import requests

from .live_server import free_port


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _serve(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_visualreview.cli", "serve", "--data-dir", str(data_dir),
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    return process, f"http://127.0.0.1:{port}"


def _wait_ready(process: subprocess.Popen[str], url: str) -> None:
    for _ in range(300):  # a bound on attempts, not a timed assertion
        assert process.poll() is None, process.communicate()[0]
        try:
            if requests.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # refused while starting, or slow on a loaded machine
            time.sleep(0.1)
    raise AssertionError("server never answered /healthz")


def _stop(process: subprocess.Popen[str]) -> str:
    process.terminate()
    return process.communicate(timeout=30)[0]


def test_a_fresh_data_dir_is_private_and_a_loosened_one_warns(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    process, url = _serve(data_dir)
    try:
        _wait_ready(process, url)
        assert _mode(data_dir) == 0o700
        database = data_dir / "visualreview.sqlite3"
        private = [database] + [p for p in data_dir.glob("visualreview.sqlite3-*")]
        assert {p.name: _mode(p) for p in private} == {p.name: 0o600 for p in private}
        assert len(private) >= 2, [p.name for p in private]  # the -wal (and -shm) exist too
    finally:
        output = _stop(process)
    assert "mode" not in output, output
    data_dir.chmod(0o755)
    process, url = _serve(data_dir)
    try:
        _wait_ready(process, url)
    finally:
        output = _stop(process)
    assert f"{data_dir} is mode 0755" in output, output


def test_an_unwritable_data_dir_ends_serve_in_one_line_and_exit_2(tmp_path: Path) -> None:
    # Tests run as root, which ignores permission bits: a path under a regular FILE is one no
    # one, root included, can create or write.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    data_dir = blocker / "sub"
    result = subprocess.run(
        [sys.executable, "-m", "pytest_visualreview.cli", "serve", "--data-dir", str(data_dir),
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(data_dir) in lines[0] and "cannot be written" in lines[0], lines


def test_an_orphan_tmp_in_the_blob_folder_is_removed_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    orphan = data_dir / "blobs" / "ab" / "cd" / ".abcd.x1y2.tmp"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half a blob")
    process, url = _serve(data_dir)
    try:
        _wait_ready(process, url)
        assert not orphan.exists()
    finally:
        _stop(process)
