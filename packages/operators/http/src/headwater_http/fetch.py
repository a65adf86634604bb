"""One request, sent until it succeeds: 429 and 5xx retried with backoff and ``Retry-After``, within a budget."""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx

from headwater.plugin import mask
from headwater_http.errors import HttpPermanentError, HttpStatusError, HttpTransientError

if TYPE_CHECKING:
    from headwater import Context
    from headwater_http.clock import Clock

# httpx logs every request's full URL (query included: a connection's param.api_key) and httpcore every
# response's headers, each on its own logger (a logger's filters do not apply to its children's records).
_HTTP_LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)


class _Masking(logging.Filter):
    """Masks secrets in a record's message (a connection's token, header and param values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


for _name in _HTTP_LOGGERS:
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, _Masking) for f in _logger.filters):
        _logger.addFilter(_Masking())

#: 5xx statuses that no retry can fix.
_PERMANENT_5XX = frozenset({501, 505})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long one extraction may take and how it waits between tries of a failing request."""

    budget: float
    backoff: float
    max_backoff: float
    request_timeout: float

    def delay(self, retry: int) -> float:
        """The wait before retry ``retry`` (1 for the first) when the server gives no ``Retry-After``."""
        return min(self.backoff * 2.0 ** (retry - 1), self.max_backoff)


@dataclass(frozen=True, slots=True)
class Request:
    """A request to send: the URL without its query, the query as pairs, and a JSON body."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    body: object = None

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


def is_transient(status: int) -> bool:
    """Whether an HTTP status is worth retrying: 408, 425, 429 and 5xx (but 501, 505)."""
    return status in (408, 425, 429) or (status >= 500 and status not in _PERMANENT_5XX)


def retry_after(response: httpx.Response, now: datetime) -> float | None:
    """Seconds the server asks us to wait (``Retry-After``: seconds or an HTTP date), None if it does not say."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    reference = now
    dates = response.headers.get_list("date")
    served = dates[0] if dates else None
    if served:  # measure against the server's own clock: immune to skew between the two machines
        with contextlib.suppress(TypeError, ValueError):
            reference = parsedate_to_datetime(served)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if reference.tzinfo is None:
        reference = reference.replace(tzinfo=UTC)
    return max((when - reference).total_seconds(), 0.0)


def excerpt(response: httpx.Response, limit: int = 300) -> str:
    """The start of a response body on one line, secrets masked."""
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError, httpx.ResponseNotRead):
        return f"<{len(response.content)} bytes>"
    text = " ".join(text.split())
    return mask(text[:limit] + ("..." if len(text) > limit else ""))


def seconds_text(value: float) -> str:
    """A wait or a budget as a person writes it: 0.5s, 45s, 2m, 1h30m."""
    if value < 60:
        return f"{value:.3g}s"
    total = round(value)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)


class Fetcher:
    """Sends requests for one task try, sharing a time budget across all of them."""

    def __init__(
        self,
        client: httpx.Client,
        policy: RetryPolicy,
        clock: Clock,
        ctx: Context,
        *,
        where: str,
    ) -> None:
        self.client = client
        self.policy = policy
        self.clock = clock
        self.ctx = ctx
        self.where = where
        self.started = clock.monotonic()
        #: Requests sent so far (every try of every page).
        self.requests = 0

    def elapsed(self) -> float:
        return self.clock.monotonic() - self.started

    def send(self, request: Request, *, label: str) -> httpx.Response:
        """The response to ``request`` (2xx or 3xx); raise HttpStatusError or HttpTransientError otherwise."""
        what = f"{self.where}{request} ({label})"
        budget = self.policy.budget
        retries = 0
        problem = ""
        while True:
            self.ctx.check_cancelled()
            remaining = budget - self.elapsed()
            if remaining <= 0:
                last = f" (last: {problem})" if problem else ""
                raise HttpTransientError(
                    mask(
                        f"{what}: the time budget of {seconds_text(budget)} is used up after {self.requests} "
                        f"requests{last}; raise budget= if the source is this slow"
                    )
                )
            wait_hint: float | None = None
            try:
                self.requests += 1
                response = self.client.request(
                    request.method,
                    request.url,
                    params=list(request.params) or None,  # httpx 0.28: params={} would drop a URL's query
                    json=request.body,
                    timeout=min(self.policy.request_timeout, remaining),
                )
            except httpx.TimeoutException as exc:
                problem = f"no response within {seconds_text(min(self.policy.request_timeout, remaining))} ({exc})"
            except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
                raise HttpPermanentError(mask(f"{what}: cannot send the request: {exc}")) from None
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status < 400:
                    return response
                reason = f"HTTP {status} {response.reason_phrase}".rstrip()
                body = excerpt(response)
                if not is_transient(status):
                    raise HttpStatusError(mask(f"{what}: {reason}" + (f": {body}" if body else ""))) from None
                problem = reason + (f": {body[:120]}" if body else "")
                wait_hint = retry_after(response, self.clock.now())
            retries += 1
            backoff = self.policy.delay(retries)
            if wait_hint is not None and wait_hint < backoff:
                wait_hint = None  # never sooner than the backoff: a "Retry-After: 0" must not hammer the API
            delay = backoff if wait_hint is None else wait_hint
            elapsed = self.elapsed()
            if elapsed + delay >= budget:
                raise HttpTransientError(
                    mask(
                        f"{what}: {problem}; gave up after {retries} "
                        f"{'try' if retries == 1 else 'tries'}: the next retry, in {seconds_text(delay)}"
                        f"{' (Retry-After)' if wait_hint is not None else ''}, would pass the time budget of "
                        f"{seconds_text(budget)} ({seconds_text(elapsed)} used)"
                    )
                ) from None
            source = " as Retry-After asks" if wait_hint is not None else ""
            self.ctx.log.warning("%s: %s; retry %d in %s%s", what, mask(problem), retries, seconds_text(delay), source)
            self.clock.sleep(self.ctx, delay)
