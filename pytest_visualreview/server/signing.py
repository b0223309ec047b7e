"""Signed baseline tokens: ``v1.<kid>.<contenthex>.<mac_b64url>`` (PostHog ``backend/signing.py``).

The server signs every hash it writes into a ``snapshots.yml`` so a hand-edited or agent-forged
baseline is detected: the MAC binds the repo id and the identifier, so a token cannot be copied to
another identifier or another repo. Keys are per repo, ``{kid: secret_hex}``; any known kid verifies
(key rotation) and new signatures use the lexicographically greatest kid.

Parsing of the file format lives in :mod:`pytest_visualreview.snapshots_yml` (the plugin needs it
and has no keys); this module is the part that needs secrets.
"""

from __future__ import annotations

import re
import secrets

from . import tokens

TOKEN_RE = re.compile(r"^v1\.([A-Za-z0-9_-]{1,32})\.([0-9a-f]{64})\.([A-Za-z0-9_-]{43})$")
KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def new_key() -> tuple[str, str]:
    """A fresh ``(kid, secret_hex)`` pair: ``k`` + 8 hex digits, 32 random bytes."""
    return "k" + secrets.token_hex(4), secrets.token_hex(32)


def active_kid(keys: dict[str, str]) -> str:
    """The kid new signatures use: the lexicographically greatest one."""
    if not keys:
        raise ValueError("repo has no signing keys")
    return max(keys)


def mac(repo_id: str, identifier: str, content_hash: str, secret_hex: str) -> str:
    """base64url (no padding) of HMAC-SHA256 over ``v1|repo|identifier|hash``."""
    return tokens.mac(bytes.fromhex(secret_hex), f"v1|{repo_id}|{identifier}|{content_hash}")


def sign(repo_id: str, identifier: str, content_hash: str, kid: str, secret_hex: str) -> str:
    """The signed token for one baseline entry."""
    if not KID_RE.match(kid):
        raise ValueError(f"kid {kid!r} must match {KID_RE.pattern}")
    return f"v1.{kid}.{content_hash}.{mac(repo_id, identifier, content_hash, secret_hex)}"


def sign_with(keys: dict[str, str], repo_id: str, identifier: str, content_hash: str) -> str:
    """Sign with the repo's active key."""
    kid = active_kid(keys)
    return sign(repo_id, identifier, content_hash, kid, keys[kid])


def verify(token: str, repo_id: str, identifier: str, keys: dict[str, str]) -> str | None:
    """The content hash if ``token`` is a valid signature for this repo and identifier."""
    match = TOKEN_RE.match(token)
    if match is None:
        return None
    kid, content_hash, given = match.groups()
    secret_hex = keys.get(kid)
    if secret_hex is None:
        return None
    expected = mac(repo_id, identifier, content_hash, secret_hex)
    return content_hash if tokens.equal(expected, given) else None
