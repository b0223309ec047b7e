"""Tests of the reference review server (helpers importable as ``tests.server.*``)."""
