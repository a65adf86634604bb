"""Post one message through slack-sdk (WebClient or WebhookClient) and turn its failures into one clear error."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from headwater.secrets import MaskingFilter, mask
from headwater_slack.errors import SlackRefusedError, SlackUnavailableError
from headwater_slack.target import SlackTarget, from_connection

if TYPE_CHECKING:
    from slack_sdk import WebClient
    from slack_sdk.http_retry import RetryHandler
    from slack_sdk.webhook import WebhookClient

    from headwater import Connection

SDK_LOGGER = "headwater_slack.sdk"

#: Error codes meaning the token itself was refused.
AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
        "invalid_token",
        "no_service",
        "no_team",
        "team_disabled",
    }
)
#: Error codes Slack documents as temporary.
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def sdk_logger() -> logging.Logger:
    """The logger handed to the SDK: secrets masked, and quiet unless lowered (every failure it would log
    is already one clear error of ours; its retry notices name webhook URLs)."""
    logger = logging.getLogger(SDK_LOGGER)
    if not any(isinstance(f, MaskingFilter) for f in logger.filters):
        logger.addFilter(MaskingFilter())
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.CRITICAL)
    return logger


def retry_handlers(*, rate_limit_retries: int, max_retry_after: float) -> list[RetryHandler]:
    """Connection errors and 500/503 retried once; 429 retried after Slack's Retry-After (bounded)."""
    from slack_sdk.http_retry.builtin_handlers import (
        ConnectionErrorRetryHandler,
        RateLimitErrorRetryHandler,
        ServerErrorRetryHandler,
    )
    from slack_sdk.http_retry.request import HttpRequest
    from slack_sdk.http_retry.response import HttpResponse
    from slack_sdk.http_retry.state import RetryState

    class BoundedRateLimitHandler(RateLimitErrorRetryHandler):
        """The SDK's 429 handler, giving up instead of sleeping when Retry-After exceeds ``max_retry_after``."""

        def _can_retry(
            self,
            *,
            state: RetryState,
            request: HttpRequest,
            response: HttpResponse | None = None,
            error: Exception | None = None,
        ) -> bool:
            if response is None or response.status_code != 429:
                return False
            for name, values in response.headers.items():
                if name.lower() == "retry-after" and values:
                    try:
                        return float(values[0]) <= max_retry_after
                    except ValueError:
                        return True
            return True

    return [
        ConnectionErrorRetryHandler(max_retry_count=1),
        BoundedRateLimitHandler(max_retry_count=rate_limit_retries),
        ServerErrorRetryHandler(max_retry_count=1),
    ]


def web_client(target: SlackTarget, *, timeout: float = 10.0, handlers: Sequence[RetryHandler] = ()) -> WebClient:
    """A WebClient for ``target`` (its token, its base URL)."""
    from slack_sdk import WebClient

    return WebClient(
        token=target.token,
        base_url=target.base_url,
        timeout=max(1, math.ceil(timeout)),
        logger=sdk_logger(),
        retry_handlers=list(handlers),
    )


def webhook_client(
    target: SlackTarget, *, timeout: float = 10.0, handlers: Sequence[RetryHandler] = ()
) -> WebhookClient:
    """A WebhookClient for ``target``'s webhook URL."""
    from slack_sdk.webhook import WebhookClient

    assert target.webhook_url is not None
    return WebhookClient(
        url=target.webhook_url,
        timeout=max(1, math.ceil(timeout)),
        logger=sdk_logger(),
        retry_handlers=list(handlers),
    )


def connect(conn: Connection) -> WebClient | WebhookClient:
    """The ``slack`` / ``slack+webhook`` connection type: ``ctx.client("slack")`` gives an SDK client."""
    target = from_connection(conn, need_channel=False)
    handlers = retry_handlers(rate_limit_retries=3, max_retry_after=60.0)
    if target.is_webhook:
        return webhook_client(target, handlers=handlers)
    return web_client(target, handlers=handlers)


class SlackPoster:
    """Posts messages to one target; every failure is a SlackRefusedError or a SlackUnavailableError."""

    def __init__(
        self,
        target: SlackTarget,
        *,
        timeout: float = 10.0,
        rate_limit_retries: int = 3,
        max_retry_after: float = 60.0,
        username: str | None = None,
        icon_emoji: str | None = None,
    ) -> None:
        self.target = target
        self.username = username
        self.icon_emoji = icon_emoji
        handlers = retry_handlers(rate_limit_retries=rate_limit_retries, max_retry_after=max_retry_after)
        self._web = None if target.is_webhook else web_client(target, timeout=timeout, handlers=handlers)
        self._hook = webhook_client(target, timeout=timeout, handlers=handlers) if target.is_webhook else None

    def post(self, text: str, blocks: Sequence[dict[str, Any]] | None = None) -> dict[str, str]:
        """Post ``text`` (the notification and fallback text) with ``blocks``; returns channel and ts."""
        from slack_sdk.errors import SlackApiError, SlackClientError

        extra: dict[str, Any] = {}
        if self.username:
            extra["username"] = self.username
        if self.icon_emoji:
            extra["icon_emoji"] = self.icon_emoji
        try:
            if self._hook is not None:
                response = self._hook.send(text=text, blocks=list(blocks) if blocks else None)
                if response.status_code != 200:
                    raise self._webhook_error(response.status_code, str(response.body or ""))
                return {"channel": self.target.channel or "", "ts": ""}
            assert self._web is not None
            answer = self._web.chat_postMessage(
                channel=self.target.channel or "", text=text, blocks=list(blocks) if blocks else None, **extra
            )
            return {"channel": str(answer.get("channel") or self.target.channel), "ts": str(answer.get("ts") or "")}
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            raise self._api_error(exc.response.status_code, str(data.get("error") or "")) from None
        except (SlackRefusedError, SlackUnavailableError):
            raise
        except (OSError, TimeoutError) as exc:  # URLError, refused connections, socket timeouts
            reason = getattr(exc, "reason", None) or exc
            raise SlackUnavailableError(
                mask(f"cannot reach Slack at {self.target.host} ({self.target.describe()}): {reason}")
            ) from None
        except SlackClientError as exc:
            raise SlackRefusedError(mask(f"Slack client error ({self.target.describe()}): {exc}")) from None

    # -- failures --------------------------------------------------------------------------
    def _api_error(self, status: int, code: str) -> SlackRefusedError | SlackUnavailableError:
        code = mask(code.splitlines()[0][:200] if code else f"HTTP {status}")
        where = self.target.describe()
        if status == 429 or code in ("ratelimited", "rate_limited"):
            return SlackUnavailableError(f"Slack rate-limited {where} (HTTP 429) and the retries ran out", code=code)
        if status >= 500 or code in TRANSIENT_ERRORS:
            return SlackUnavailableError(f"Slack is unavailable ({code}, HTTP {status}) for {where}", code=code)
        if code in AUTH_ERRORS:
            return SlackRefusedError(
                f"Slack refused the token of {self.target.where} ({code}): check the bot token and its scopes",
                code=code,
            )
        return SlackRefusedError(f"Slack refused the message to {where} ({code})", code=code)

    def _webhook_error(self, status: int, body: str) -> SlackRefusedError | SlackUnavailableError:
        code = mask(body.strip().splitlines()[0][:200] if body.strip() else f"HTTP {status}")
        where = self.target.describe()
        if status == 429:
            return SlackUnavailableError(f"Slack rate-limited {where} (HTTP 429) and the retries ran out", code=code)
        if status >= 500:
            return SlackUnavailableError(f"Slack is unavailable ({code}, HTTP {status}) for {where}", code=code)
        if code in AUTH_ERRORS or status in (401, 403, 404):
            return SlackRefusedError(
                f"Slack refused {where} ({code}, HTTP {status}): the webhook was revoked or is wrong", code=code
            )
        return SlackRefusedError(f"Slack refused the message to {where} ({code}, HTTP {status})", code=code)
