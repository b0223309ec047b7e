"""Sentry's preprod snapshots API on the reference server, so the official sentry-cli works here.

Pure layers (no I/O, unit-tested alone): ``manifest`` (the POST body and its 400 messages),
``categorize`` (added/removed/renamed/skipped and the threshold rule), ``objectstore`` (the wire
format sentry-cli uses for image bytes). The router and storage glue live beside them and reuse the
server's store, blobs, tokens and comparator. docs/sentry.md is the user-facing guide.
"""
