"""The test suite as one package: shared helpers import as ``tests.server.live_server``,
``tests.vr_cli`` and so on (pytest puts the repository root on ``sys.path`` for it), never
through ``sys.path`` edits."""
