"""Shared helpers for the plugin's end-to-end tests: an inner pytest project with real pages."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.server.live_server import LiveServer
    from tests.server.s3_server import MotoS3

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><style>
body {{ margin: 0; font-family: "DejaVu Sans", sans-serif; background: white; }}
#box {{ width: 120px; height: 60px; margin: 10px; background: {color}; }}
#empty {{ width: 0; height: 0; }}
.clock {{ display: inline-block; width: 240px; height: 24px; overflow: hidden; font-size: 20px; }}
.spinner {{ width: 30px; height: 30px; border: 4px solid #ccc; border-top-color: #333;
            border-radius: 50%; animation: spin .5s linear infinite; }}
@keyframes spin {{ to {{ transform: rotate(360deg); }} }}
</style></head>
<body>
<div id="box"></div>
<div id="empty"></div>
<span class="clock" id="clock">0</span>
<div class="spinner"></div>
<script>
setInterval(() => {{ document.getElementById("clock").textContent = String(performance.now()); }}, 5);
</script>
</body></html>
"""


class Project:
    """A throwaway pytest project (pytester) with one page and a test file."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.root = Path(pytester.path)
        self.set_page(color="rgb(40, 80, 200)")
        pytester.makeini("[pytest]\nvisual_review_mask = .clock\n")

    def set_page(self, *, color: str, html: str | None = None) -> None:
        (self.root / "page.html").write_text(html or PAGE.format(color=color), encoding="utf-8")

    def write_tests(self, source: str, name: str = "test_visual") -> Path:
        header = (
            "from pathlib import Path\n"
            "PAGE = (Path(__file__).parent / 'page.html').as_uri()\n\n"
        )
        path = self.root / f"{name}.py"
        path.write_text(header + textwrap.dedent(source), encoding="utf-8")
        return path

    def run(self, *args: str) -> pytest.RunResult:
        """Run the inner session in this process (fast: no interpreter start-up).

        pytest-playwright wraps every test call in a process-global soft-assertion scope, and the
        inner session would nest a second one; the outer scope is set aside for the inner run.
        When this process already drives a browser through Playwright's sync API (another test on
        this worker used `page`), its event loop is running in this thread and a second sync
        session cannot start here: then the inner session runs in a thread of its own.
        """
        import asyncio
        import concurrent.futures

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                return pool.submit(self._run_inline, args).result()
        return self._run_inline(args)

    def _run_inline(self, args: tuple[str, ...]) -> pytest.RunResult:
        from playwright._impl import _assertions

        saved = getattr(_assertions, "_soft_errors", None)
        _assertions._soft_errors = None
        try:
            return self.pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
        finally:
            _assertions._soft_errors = saved

    def run_subprocess(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)

    def baselines(self, stem: str = "test_visual") -> list[str]:
        folder = self.root / "__visual_snapshots__" / stem
        return sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []

    @property
    def output(self) -> Path:
        return self.root / ".visual-review"


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    return Project(pytester)


@pytest.fixture(scope="session")
def moto_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoS3]:
    """One moto S3 server per session (per xdist worker) with a bucket; each live server on the
    ``shared`` backend keeps its blobs under a prefix of its own."""
    from tests.server.s3_server import MotoS3

    moto = MotoS3.start(tmp_path_factory.mktemp("moto"))
    yield moto
    moto.stop()


@pytest.fixture
def live(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """A review server of this test's own (tests/server/live_server.py), killed afterwards."""
    from tests.server.live_server import start_live

    server = start_live(tmp_path / "server-data", backend, request)
    yield server
    server.kill()


# -- storage backends ---------------------------------------------------------------------------
#
# Tests marked ``@pytest.mark.backends`` (a module's ``pytestmark`` or one test; with arguments,
# only those) run once per configuration: ``embedded`` (SQLite + the data folder + the in-process
# worker, the default) and ``shared`` (PostgreSQL + S3 + the procrastinate queue, as a multi-machine
# deployment runs); every other test sees ``backend == "embedded"``. The PostgreSQL cluster and
# the moto S3 server are started once per session (per xdist worker), only if a test asks for
# them; each server gets its own database and bucket prefix. Chosen tests only, so the suite stays
# within its budget.

from tests.server.live_server import BACKENDS  # noqa: E402


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is not None and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", marker.args or BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    """``embedded`` (SQLite + folder + in-process worker) or ``shared`` (PostgreSQL + S3)."""
    return str(getattr(request, "param", "embedded"))


@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    """A real PostgreSQL cluster for this session (tests/server/postgres.py)."""
    from tests.server.postgres import Postgres, available

    if not available():
        pytest.fail("PostgreSQL's server binaries are missing: run scripts/setup.sh")
    cluster = Postgres.start()
    yield cluster
    cluster.stop()
