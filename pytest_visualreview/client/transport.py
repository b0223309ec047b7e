"""The one HTTP transport of the client layer: retries outages, and tells outages from refusals.

Both targets (PostHog's visual_review API and Sentry's snapshots API with its objectstore) send
every request through `Transport.send`. Connection errors, timeouts, 5xx and 429 are retried with
Retry-After or exponential backoff; when the retries run out the error is `transient` (worth
spooling the run and sending it later). Anything else the server answers with 4xx is a refusal:
the request itself is wrong (token, project, payload), and retrying or spooling cannot fix it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

DEFAULT_TIMEOUT = 30.0


class ReviewServerError(Exception):
    """A request the server refused or could not answer; the message names the request.

    `transient` is True for outages (connection refused, timeouts, 5xx, 429 after the retries):
    the run is worth spooling and sending later. Otherwise the request itself is wrong.
    """

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient

    def within(self, context: str) -> ReviewServerError:
        """The same failure, its message prefixed with what was being done."""
        return ReviewServerError(f"{context}: {self}", status=self.status, transient=self.transient)


def is_transient_status(status: int) -> bool:
    """An answer that says "later", not "no": server errors and rate limits."""
    return status >= 500 or status == 429


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    backoff: float = 0.5  # seconds, doubled per attempt
    max_wait: float = 10.0


#: status -> what the user should check, appended to a refusal's message
Hints = Callable[[int], str]


class Transport:
    """One `requests.Session` with a bearer token, retries and clear errors.

    `authorized=False` requests (presigned uploads, signed downloads, the objectstore) go without
    the token, so it never reaches a host that did not ask for it, and each on a session of its
    own, because uploads run in threads and a `requests.Session` is not thread-safe.
    """

    def __init__(
        self,
        token: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        hints: Hints = lambda status: "",
    ) -> None:
        self.timeout = timeout
        self.retry = retry
        self.sleep = sleep
        self._hints = hints
        self._authorized = requests.Session()
        self._authorized.headers["Authorization"] = f"Bearer {token}"
        self._authorized.headers["User-Agent"] = "pytest-visualreview"

    def send(self, method: str, url: str, *, what: str, authorized: bool = True,
             **kwargs: Any) -> requests.Response:
        """The response to a request that succeeded (< 400), or ReviewServerError."""
        request = self._authorized.request if authorized else requests.request
        last = ""
        for attempt in range(self.retry.attempts):
            try:
                response = request(method, url, timeout=self.timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"cannot reach the server ({type(exc).__name__})"
                wait = self._backoff(attempt, None)
            except requests.RequestException as exc:  # a bad URL, too many redirects: not an outage
                raise ReviewServerError(f"{what}: {type(exc).__name__}: {exc}") from None
            else:
                if response.status_code < 400:
                    return response
                if not is_transient_status(response.status_code):
                    raise ReviewServerError(
                        f"{what}: HTTP {response.status_code}: {error_detail(response)}"
                        f"{self._hints(response.status_code)}",
                        status=response.status_code,
                    )
                last = f"HTTP {response.status_code}: {error_detail(response)}"
                wait = self._backoff(attempt, response.headers.get("Retry-After"))
            if attempt + 1 < self.retry.attempts:
                self.sleep(wait)
        raise ReviewServerError(
            f"{what}: {last} (gave up after {self.retry.attempts} attempts)", transient=True
        )

    def json(self, method: str, url: str, *, what: str | None = None,
             body: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        """The JSON object a request answers with; anything else is a clear error."""
        what = what or f"{method} {url}"
        response = self.send(method, url, what=what, json=body, **kwargs)
        try:
            data = response.json()
        except ValueError:
            raise ReviewServerError(
                f"{what}: the server answered {response.status_code} with something that is not "
                f"JSON ({response.text[:80]!r}); is --visual-review-url the review server?",
                status=response.status_code,
            ) from None
        if not isinstance(data, dict):
            raise ReviewServerError(
                f"{what}: expected a JSON object, got {type(data).__name__}",
                status=response.status_code,
            )
        return data

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.retry.max_wait)
            except ValueError:
                pass
        return min(self.retry.backoff * 2**attempt, self.retry.max_wait)


def error_detail(response: requests.Response) -> str:
    """The server's own words: `detail`/`error` of a JSON body (with the field), else its text."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason
    if isinstance(data, dict):
        detail = data.get("detail") or data.get("error") or data
        attr = data.get("attr")
        return f"{detail} (field: {attr})" if attr else str(detail)[:500]
    return str(data)[:200]
