"""The server's one HMAC primitive: base64url (unpadded) HMAC-SHA256, and its constant-time check.

Everything the server signs goes through here: presigned upload policies and blob download URLs
(:mod:`.uploads`), baseline tokens in ``snapshots.yml`` (:mod:`.signing`), the objectstore tokens
handed to sentry-cli (:mod:`.sentry.routes`) and the review pages' session cookies
(:mod:`.ui.session`). One implementation means one encoding and one comparison to get right.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding (what goes into URLs, form fields and tokens)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """The inverse of :func:`b64url` (padding restored); ValueError on bad input."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mac(secret: bytes, message: str) -> str:
    """``b64url(HMAC-SHA256(secret, message))``."""
    return b64url(hmac.new(secret, message.encode("utf-8"), hashlib.sha256).digest())


def verify(secret: bytes, message: str, given: str) -> bool:
    """Whether ``given`` is :func:`mac` of ``message``, compared in constant time."""
    return equal(mac(secret, message), given)


def equal(expected: str, given: str) -> bool:
    """Constant-time comparison of two secrets as UTF-8 bytes.

    ``hmac.compare_digest`` raises TypeError on a str with non-ASCII characters; comparing the
    bytes makes any client-sent value (a field, a cookie) a plain mismatch, never a 500.
    """
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), given.encode("utf-8", "surrogatepass")
    )
