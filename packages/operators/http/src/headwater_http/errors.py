"""What can go wrong talking to an HTTP API, split by whether trying again can help."""

from __future__ import annotations

from headwater import HeadwaterError
from headwater.plugin import PermanentError


class HttpError(HeadwaterError):
    """Base of every error the HTTP operators raise; ``retryable`` says whether another try can help."""

    retryable = False


class HttpTransientError(HttpError, ConnectionError):
    """The API is unavailable for now (connection refused, timeout, 429, 5xx): a later try may succeed.

    A ConnectionError, so the default ``retry_on`` and ``retry_on=(ConnectionError, TimeoutError)`` retry it.
    """

    retryable = True


class HttpPermanentError(HttpError, PermanentError):
    """A failure no retry can fix: Headwater fails the task at once, whatever its ``retry_on``."""


class HttpStatusError(HttpPermanentError):
    """The API refused the request for good (401, 403, 404, 400...): retrying sends the same request."""


class SourceShapeError(HttpPermanentError):
    """The response no longer looks like what the task was configured for (records path, pagination).

    Never retried: a source that changed shape answers every retry the same way.
    """


class PageLimitError(HttpPermanentError):
    """More pages than ``max_pages``: the source grew past the bound, or its pagination loops."""


class ResultTooLargeError(HttpPermanentError):
    """More records than may be returned as the task's result: write them to a file with ``output=``."""
