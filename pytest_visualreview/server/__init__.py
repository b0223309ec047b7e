"""The reference review server (optional extra: ``pip install 'pytest-visualreview[server]'``).

It speaks PostHog's visual_review API (and, via sibling routers, Sentry's preprod snapshots
API) over one embedded store: SQLite in WAL mode plus a content-addressed blob folder, both
in a data dir.

Layers, each importable alone so other routers and the review pages can reuse them:

- ``storage``    ``StorageConfig``: where the state is (data dir, or database + blob URLs), for every command
- ``store``      the metadata store: SQLite connections, schema migrations, seed data, its row types
- ``pgstore``    the same surface on PostgreSQL (shared store for replicas and workers)
- ``blobs``      content-addressed blob store with atomic writes
- ``ingest``     the one ingest path (decode with the bomb guard, verify the key, blob then row)
- ``tokens``, ``limits``, ``resolve``  the one HMAC, body limiter and org/project resolver
- ``signing``    ``v1.<kid>.<hash>.<mac>`` baseline tokens
- ``auth``       hashed bearer tokens with scopes, FastAPI dependencies
- ``uploads``    presigned-POST upload targets and PostHog's ingest of uploaded PNGs
- ``runs``       the review domain's facade over ``review/`` (lifecycle, actions, baselines,
                 quarantine, queries; ``enums``, ``contracts``)
- ``jobs``       the one job queue and worker (coordinator thread + worker processes)
- ``queue``      the shared job queue on PostgreSQL (procrastinate), with the worker's surface
- ``migrate``    ``visualreview migrate``: embedded store -> PostgreSQL + blob store, verified
- ``processing`` PostHog's job source and classification; ``diffimage`` the diff PNG encoder
- ``api``        the PostHog visual_review routes (thin: parse, call ``runs``, serialise)
- ``sentry``     Sentry's snapshots API and the objectstore subset sentry-cli uses
- ``ui``         the review pages
- ``app``        ``create_app(storage)`` wires the routers and the worker
"""
