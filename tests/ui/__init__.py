"""Tests of the review pages in a real Chromium (a package, so helpers import relatively)."""
