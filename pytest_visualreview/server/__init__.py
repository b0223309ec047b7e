"""The reference review server (optional extra: ``pip install 'pytest-visualreview[server]'``).

It speaks PostHog's visual_review API (and, via sibling routers, Sentry's preprod snapshots
API) over one embedded store: SQLite in WAL mode plus a content-addressed blob folder, both
in a data dir.

Layers, each importable alone so other routers and the review pages can reuse them:

- ``store``      SQLite connection handling, schema migrations, first-start seed data
- ``blobs``      content-addressed blob folder with atomic writes
- ``signing``    ``v1.<kid>.<hash>.<mac>`` baseline tokens
- ``auth``       hashed bearer tokens with scopes, FastAPI dependencies
- ``uploads``    presigned-POST upload targets and the ingest of uploaded PNGs
- ``runs``       domain logic: runs, snapshots, review state, baselines, counts, timeline
- ``processing`` background diff worker that survives restarts
- ``api``        the PostHog visual_review routes (thin: parse, call ``runs``, serialise)
- ``app``        ``create_app(data_dir)`` wires the routers and the worker
"""
