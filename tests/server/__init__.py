"""Tests of the reference review server (importable as ``server.*`` with tests/ on sys.path)."""
