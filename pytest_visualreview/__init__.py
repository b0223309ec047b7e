"""pytest-visualreview: visual regression testing for pytest and Playwright."""

__version__ = "0.1.0"
