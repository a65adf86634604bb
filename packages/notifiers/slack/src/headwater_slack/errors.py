"""The two ways a Slack delivery fails: refused for good, or unavailable for now."""

from __future__ import annotations

from headwater import PermanentError


class SlackRefusedError(PermanentError):
    """Slack refused the request (a bad token, an unknown channel, a malformed message): never retried."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class SlackUnavailableError(ConnectionError):
    """Slack could not be reached or answered 429/5xx after the client's own retries: worth retrying later."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
