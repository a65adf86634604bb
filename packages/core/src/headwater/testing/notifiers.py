"""The notifier conformance suite: the contract every notifier plugin is held to, as inherited pytest tests.

A notifier package's tests subclass :class:`NotifierConformance`, name the registered notifier, and
provide a notifier that delivers to the package's stand-in and a way to read what it received::

    class TestSlackNotifier(NotifierConformance):
        notifier_name = "slack"

        @pytest.fixture
        def notifier(self, slack_stub: Stub) -> Notifier:
            return SlackNotifier(token="xoxb-test", channel="#alerts", base_url=slack_stub.url)

        @pytest.fixture
        def delivered(self, slack_stub: Stub) -> Callable[[], list[str]]:
            return slack_stub.texts

Each test builds a fresh notifier (the fixture is function-scoped), sends one alert and then, if the
notifier buffers, calls its ``close()`` (or ``flush()``) before reading what was delivered.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from headwater.plugin.notifier import Alert, AlertKind, Notifier

#: A secret every test registers: it must never reach a message.
SECRET = "hw-conformance-s3cr3t-token"  # noqa: S105 - a test value


def sample_alert(kind: AlertKind) -> Alert:
    """An alert of ``kind`` carrying every field a notifier may show."""
    late = kind in (AlertKind.DEADLINE_MISSED, AlertKind.DEADLINE_PREDICTED, AlertKind.FRESHNESS)
    return Alert(
        kind=kind,
        pipeline_id=f"conformance_{kind.value}",
        run_id="conformance_run-20260301T000000",
        message=f"conformance {kind.value} alert",
        task_id="load_orders",
        try_number=3,
        error=f"ConnectionError: warehouse refused the connection (password {SECRET})",
        log_path="/var/log/headwater/load_orders.3.log",
        log_url="http://headwater.example/runs/conformance_run/load_orders/3",
        logical_date="2026-03-01T00:00:00+00:00",
        minutes_late=42.0 if late else None,
        critical_path=("extract", "load_orders") if late else (),
    )


class NotifierConformance:
    """Subclass it, set ``notifier_name``, and provide the ``notifier`` and ``delivered`` fixtures."""

    #: The name the plugin registers the notifier under (``slack``, ``email``).
    notifier_name: str

    @pytest.fixture
    def notifier(self) -> Notifier:
        """Override: a fresh notifier delivering to the test's stand-in."""
        raise NotImplementedError(f"{type(self).__name__} must define a `notifier` fixture")

    @pytest.fixture
    def delivered(self) -> Callable[[], list[str]]:
        """Override: returns the text of every message the stand-in received, in order."""
        raise NotImplementedError(f"{type(self).__name__} must define a `delivered` fixture")

    def _send(self, notifier: Notifier, alert: Alert) -> None:
        from headwater.secrets import add_secret

        add_secret(SECRET)
        notifier.notify(alert)
        for name in ("close", "flush"):
            finish = getattr(notifier, name, None)
            if callable(finish):
                finish()
                break

    def test_is_registered_under_its_name(self, notifier: Notifier) -> None:
        from headwater.plugin.manager import Kind, get_manager

        registered = get_manager().resolve(Kind.NOTIFIER, self.notifier_name)
        assert isinstance(registered, type) and isinstance(notifier, registered)

    @pytest.mark.parametrize("kind", list(AlertKind), ids=[k.value for k in AlertKind])
    def test_every_alert_kind_is_delivered_with_its_pipeline_and_message(
        self, notifier: Notifier, delivered: Callable[[], list[str]], kind: AlertKind
    ) -> None:
        alert = sample_alert(kind)
        self._send(notifier, alert)
        texts = delivered()
        assert texts, f"nothing was delivered for a {kind.value} alert"
        text = "\n".join(texts)
        assert alert.pipeline_id in text and alert.message in text, text

    def test_a_failure_names_task_try_error_and_log_link(
        self, notifier: Notifier, delivered: Callable[[], list[str]]
    ) -> None:
        alert = sample_alert(AlertKind.FAILURE)
        self._send(notifier, alert)
        text = "\n".join(delivered())
        assert "load_orders" in text and "3" in text, text
        assert "warehouse refused the connection" in text, text
        assert alert.log_url is not None and alert.log_url in text, text

    def test_a_missed_deadline_says_how_late(self, notifier: Notifier, delivered: Callable[[], list[str]]) -> None:
        self._send(notifier, sample_alert(AlertKind.DEADLINE_MISSED))
        assert "42" in "\n".join(delivered())

    def test_secrets_never_reach_a_message(self, notifier: Notifier, delivered: Callable[[], list[str]]) -> None:
        self._send(notifier, sample_alert(AlertKind.FAILURE))
        text = "\n".join(delivered())
        assert text and SECRET not in text, text
