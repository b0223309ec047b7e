"""Review in the browser: the reference server's review pages (server-rendered HTML, a little JS).

Pages: sign-in (a pasted API token becomes an HttpOnly session cookie), repos, a repo's runs
with filters, a run with its snapshots in the shared image viewer (``pytest_visualreview.viewer``)
and the reviewer's actions, and a snapshot identity's baseline timeline. Installed by
``routes.install(app, context)``, which the app factory calls when this package is present.
See docs/review.md.
"""
