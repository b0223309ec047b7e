"""Tests of the client layer (pytest_visualreview.client), one module per client module."""
