"""Find or install the real Playwright Test (npm ``@playwright/test``) and run a spec with it.

The version is the one the Python ``playwright`` package drives (its bundled driver's
package.json), so both tools run the same browser-side code; browsers are never downloaded
(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1): the spec launches the system Chromium, as the plugin does.
Installed once into a cache folder outside the repository (``$VISUALREVIEW_PLAYWRIGHT_TEST_DIR``,
else ``~/.cache/pytest-visualreview/playwright-test-<version>``), under a file lock so xdist
workers do not race; the benchmark passes its own folder (.benchmarks-work/).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import playwright

from pytest_visualreview.browser import SYSTEM_CHROMIUM_ARGS

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def driver_version() -> str:
    """The Playwright version behind the Python package (its Node driver), e.g. 1.65.1."""
    package = Path(playwright.__file__).parent / "driver" / "package" / "package.json"
    return str(json.loads(package.read_text(encoding="utf-8"))["version"])


def cache_dir() -> Path:
    configured = os.environ.get("VISUALREVIEW_PLAYWRIGHT_TEST_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "pytest-visualreview" / f"playwright-test-{driver_version()}"


def ensure_playwright_test(root: Path | None = None) -> Path:
    """The node_modules folder holding @playwright/test; raises RuntimeError saying how to fix it."""
    root = root or cache_dir()
    version = driver_version()
    modules = root / "node_modules"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed(modules, version):
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError(
                    "Playwright Test is needed here and npm is not on PATH: install Node.js (npm), "
                    f"or run: npm install --prefix {root} @playwright/test@{version}"
                )
            proc = subprocess.run(
                [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "--no-save",
                 f"@playwright/test@{version}"],
                capture_output=True,
                text=True,
                timeout=300,
                env={**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"},
            )
            if proc.returncode != 0 or not _installed(modules, version):
                raise RuntimeError(
                    f"npm could not install @playwright/test@{version} into {root} "
                    f"(exit {proc.returncode}); is the npm registry reachable?\n"
                    f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
                )
    return modules


def _installed(modules: Path, version: str) -> bool:
    package = modules / "@playwright" / "test" / "package.json"
    try:
        return json.loads(package.read_text(encoding="utf-8"))["version"] == version
    except (OSError, ValueError, KeyError):
        return False


def write_config(project: Path, modules: Path, *, update: str, extra_use: str = "") -> Path:
    """A playwright.config.js in `project` for the system Chromium with the plugin's launch
    arguments; baselines at snaps/<name>.png; results in results.json."""
    link = project / "node_modules"
    if not link.exists():
        link.symlink_to(modules, target_is_directory=True)
    config = project / "playwright.config.js"
    config.write_text(
        f"""module.exports = {{
  testDir: '.',
  workers: 1,
  retries: 0,
  updateSnapshots: '{update}',
  snapshotPathTemplate: '{{testDir}}/snaps/{{arg}}{{ext}}',
  reporter: [['json', {{ outputFile: 'results.json' }}]],
  use: {{
    headless: true,
    launchOptions: {{ executablePath: '/usr/bin/chromium', args: {json.dumps(list(SYSTEM_CHROMIUM_ARGS))} }},
    {extra_use}
  }},
}};
""",
        encoding="utf-8",
    )
    return config


def run(
    project: Path, modules: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> dict[str, dict[str, object]]:
    """Run Playwright Test in `project`; {test title: {"status", "error"}} from its JSON report."""
    report = project / "results.json"
    report.unlink(missing_ok=True)
    cli = modules / "@playwright" / "test" / "cli.js"
    proc = subprocess.run(
        ["node", str(cli), "test", "-c", str(project / "playwright.config.js"), *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if not report.exists():
        raise RuntimeError(f"Playwright Test wrote no report (exit {proc.returncode}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    results: dict[str, dict[str, object]] = {}

    def walk(suite: dict) -> None:
        for spec in suite.get("specs", []):
            for test in spec["tests"]:
                result = test["results"][-1]
                errors = [_ANSI.sub("", e.get("message", "")) for e in result.get("errors", [])]
                results[spec["title"]] = {"status": result["status"], "error": "\n".join(errors),
                                          "duration": result.get("duration", 0)}
        for child in suite.get("suites", []):
            walk(child)

    for suite in json.loads(report.read_text(encoding="utf-8"))["suites"]:
        walk(suite)
    return results
