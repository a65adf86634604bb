"""SlackNotifier: Headwater alerts as Slack messages, rate-limited, deduplicated and summarised in bursts."""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Callable

from headwater import ConfigError
from headwater.plugin import Alert
from headwater.secrets import mask
from headwater_slack.blocks import Message, alert_message, summary_message
from headwater_slack.client import SlackPoster
from headwater_slack.errors import SlackRefusedError
from headwater_slack.options import ThrottleOptions, duration, optional_text, whole
from headwater_slack.target import SlackTarget, resolve
from headwater_slack.throttle import Summary, Throttle

ALERT_LOGGER = "headwater.alerts"
OPTIONS = "notifier_options.slack"
logger = logging.getLogger(ALERT_LOGGER)

_live: weakref.WeakSet[SlackNotifier] = weakref.WeakSet()


class SlackNotifier:
    """Posts each alert to Slack as a Block Kit message (registered as the ``slack`` notifier).

    Built by Headwater with the keyword options of ``[notifier_options.slack]``:

    - where to: ``conn`` (a connection id; ``slack`` when ``HEADWATER_CONN_SLACK`` or the config
      defines it), ``channel``, or ``webhook_url``; ``token`` and ``base_url`` for tests and
      programs. Without any, ``SLACK_BOT_TOKEN`` or ``SLACK_WEBHOOK_URL`` from the environment.
    - throttling: ``window`` (``"60s"``), ``max_per_window`` (5), ``dedup_window`` (``"10m"``):
      see :class:`~headwater_slack.throttle.Throttle`. Held-back alerts become one summary when
      their window ends (a background timer posts it; ``auto_flush=False`` leaves that to
      :meth:`flush`), and :meth:`close` posts what is still held.
    - ``error_chars`` / ``error_lines``: the error excerpt's size; ``mention`` (``"<!here>"``) is
      prefixed to failures, open breakers and missed deadlines; ``username``, ``icon_emoji``.
    - ``timeout`` (seconds per request), ``rate_limit_retries`` (3) and ``max_retry_after`` (60 s):
      a 429 is retried after Slack's ``Retry-After`` by the SDK's rate-limit handler.
    - ``clock``: a callable returning seconds (Python only; tests inject a fake one).

    ``notify`` raises on a failed delivery (the error names the channel and the token's source,
    never a credential). Once Slack has refused the token, later alerts fail at once, unposted.
    """

    def __init__(
        self,
        *,
        channel: str | None = None,
        conn: str | None = None,
        webhook_url: str | None = None,
        token: str | None = None,
        base_url: str | None = None,
        window: object = "60s",
        max_per_window: object = 5,
        dedup_window: object = "10m",
        error_chars: object = 1200,
        error_lines: object = 15,
        mention: str | None = None,
        username: str | None = None,
        icon_emoji: str | None = None,
        timeout: object = 10,
        rate_limit_retries: object = 3,
        max_retry_after: object = "60s",
        auto_flush: bool = True,
        clock: Callable[[], float] | None = None,
        **unknown: object,
    ) -> None:
        if unknown:
            known = sorted(set(SlackNotifier.__init__.__annotations__) - {"unknown", "return"})
            names = ", ".join(sorted(unknown))
            raise ConfigError(f"{OPTIONS}: unknown option(s) {names} (known: {', '.join(known)})")
        self.throttle_options = ThrottleOptions.parse(
            window=window, max_per_window=max_per_window, dedup_window=dedup_window, where=OPTIONS
        )
        self.error_chars = whole(error_chars, what=f"{OPTIONS}.error_chars", minimum=80)
        self.error_lines = whole(error_lines, what=f"{OPTIONS}.error_lines", minimum=1)
        self.mention = optional_text(mention, what=f"{OPTIONS}.mention")
        self.target: SlackTarget = resolve(
            conn=optional_text(conn, what=f"{OPTIONS}.conn"),
            token=optional_text(token, what=f"{OPTIONS}.token"),
            channel=optional_text(channel, what=f"{OPTIONS}.channel"),
            webhook_url=optional_text(webhook_url, what=f"{OPTIONS}.webhook_url"),
            base_url=optional_text(base_url, what=f"{OPTIONS}.base_url"),
        )
        self.poster = SlackPoster(
            self.target,
            timeout=duration(timeout, what=f"{OPTIONS}.timeout"),
            rate_limit_retries=whole(rate_limit_retries, what=f"{OPTIONS}.rate_limit_retries"),
            max_retry_after=duration(max_retry_after, what=f"{OPTIONS}.max_retry_after"),
            username=optional_text(username, what=f"{OPTIONS}.username"),
            icon_emoji=optional_text(icon_emoji, what=f"{OPTIONS}.icon_emoji"),
        )
        self.auto_flush = auto_flush
        self._clock = clock or time.monotonic
        self._throttle = Throttle(self.throttle_options)
        self._lock = threading.RLock()
        self._refused: SlackRefusedError | None = None
        self._timer: threading.Thread | None = None
        self._wake = threading.Event()
        self._stopping = False
        _live.add(self)

    # -- the Notifier contract ---------------------------------------------------------------
    def notify(self, alert: Alert) -> None:
        """Post ``alert`` now, count it as a repeat, or hold it for its window's summary."""
        with self._lock:
            if self._refused is not None:
                raise SlackRefusedError(str(self._refused), code=self._refused.code)
            post, due = self._throttle.offer(alert, self._clock())
            for summary in due:
                self._post_summary(summary, raise_errors=False)
            if post:
                try:
                    self._post(self._render(alert))
                except Exception:
                    self._throttle.not_posted(alert)
                    raise
            elif self._throttle.next_due() is not None:  # held back: posted with its window's summary
                _live.add(self)  # (again, if it was closed before)
                if self.auto_flush:
                    self._start_timer()

    def flush(self) -> None:
        """Post the summary of what is held back now, ending the current window early."""
        with self._lock:
            summary = self._throttle.flush()
            if summary is not None:
                self._post_summary(summary, raise_errors=True)

    def close(self) -> None:
        """Stop the timer and post what is still held (called on shutdown; safe to call twice)."""
        with self._lock:
            self._stopping = True
            timer, self._timer = self._timer, None
        self._wake.set()
        if timer is not None and timer is not threading.current_thread():
            timer.join(5.0)
        with self._lock:
            summary = self._throttle.flush()
            if summary is not None:
                self._post_summary(summary, raise_errors=False)
            self._stopping = False
            self._wake.clear()
        _live.discard(self)

    def __repr__(self) -> str:
        return f"<SlackNotifier to {self.target.describe()}>"

    # -- internals -----------------------------------------------------------------------------
    def _render(self, alert: Alert) -> Message:
        return alert_message(alert, error_chars=self.error_chars, error_lines=self.error_lines, mention=self.mention)

    def _post(self, message: Message) -> None:
        if self._refused is not None:
            raise SlackRefusedError(str(self._refused), code=self._refused.code)
        try:
            self.poster.post(message.text, message.blocks)
        except SlackRefusedError as exc:
            if exc.code in _STICKY:
                self._refused = exc
            raise

    def _post_summary(self, summary: Summary, *, raise_errors: bool) -> None:
        if self._refused is not None and not raise_errors:
            return  # the refusal was reported with each alert; a summary would only repeat it
        try:
            self._post(summary_message(summary, mention=self.mention))
        except Exception as exc:
            if raise_errors:
                raise
            logger.error(
                "notifier 'slack' failed to post the summary of %d alert%s: %s",
                summary.total,
                "" if summary.total == 1 else "s",
                mask(f"{type(exc).__name__}: {exc}"),
            )

    def _start_timer(self) -> None:
        if self._timer is None and not self._stopping:
            self._timer = threading.Thread(target=self._run_timer, name="headwater-slack-summaries", daemon=True)
            self._timer.start()
        self._wake.set()

    def _run_timer(self) -> None:
        """Post each window's summary when it is due, until closed."""
        while True:
            with self._lock:
                if self._stopping or self._timer is not threading.current_thread():
                    return
                for summary in self._throttle.due(self._clock()):
                    self._post_summary(summary, raise_errors=False)
                due_at = self._throttle.next_due()
                wait = None if due_at is None else max(0.01, due_at - self._clock())
                self._wake.clear()
            self._wake.wait(wait)


_STICKY = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "invalid_token", "no_service"}
)


@atexit.register
def _flush_at_exit() -> None:
    """Post what live notifiers still hold when the interpreter exits without closing them."""
    for notifier in list(_live):
        try:
            notifier.close()
        except Exception as exc:  # never fail an exit over an alert
            logger.error("notifier 'slack' could not post its held alerts at exit: %s", mask(str(exc)))
