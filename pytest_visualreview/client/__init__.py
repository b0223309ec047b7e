"""The client layer: what the plugin and the `visualreview` client commands send to review servers.

- `manifest`, `vcs`: the run (one `Manifest`, one `VcsInfo`), built from a session's records;
- `transport`: the one HTTP transport (retries; `ReviewServerError.transient` for outages);
- `target`: the `Target` protocol; `posthog_target` (on `posthog`) and `sentry_target` (on
  `sentry`) speak the two APIs;
- `delivery`: session end: manifest -> target -> sent, or spooled (`spool`) for `visualreview upload`;
- `pull`, `cli`: approvals back into the working tree, and the client subcommands.

Nothing here imports pytest or the server.
"""
