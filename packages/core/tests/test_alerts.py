"""Alert delivery through real notifiers registered with the real plugin hooks, and the standard alerts."""

from __future__ import annotations

import logging
import sys
import threading
import types
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from headwater.builtins.notify import NotifyOperator
from headwater.config.settings import Settings, load_project
from headwater.engine.alerts import (
    Alerter,
    circuit_open_alert,
    deadline_alert,
    failure_alert,
    freshness_alert,
    retry_alert,
    run_alert,
)
from headwater.errors import ConfigError
from headwater.plugin import hookimpl
from headwater.plugin.manager import PluginManager, reset_manager
from headwater.plugin.notifier import Alert, AlertKind
from headwater.secrets import add_secret
from headwater.store.breakers import BreakerTransition

PLUGIN_MODULE = "hw_test_alert_notifiers"
SECRET = "xoxb-sekrit-token-123"


class MemoryNotifier:
    """Keeps what it is sent (one list per instance; every instance is remembered)."""

    instances: ClassVar[list[MemoryNotifier]] = []

    def __init__(self, **options: object) -> None:
        self.options = options
        self.alerts: list[Alert] = []
        self.threads: list[str] = []
        self.closed_after: int | None = None
        MemoryNotifier.instances.append(self)

    def notify(self, alert: Alert) -> None:
        self.alerts.append(alert)
        self.threads.append(threading.current_thread().name)

    def close(self) -> None:  # a notifier that holds alerts back (a summary) sends them here
        self.closed_after = len(self.alerts)


class BrokenNotifier:
    """Fails every delivery with an error that carries its token."""

    def __init__(self, *, token: str = "") -> None:
        self.token = token

    def notify(self, alert: Alert) -> None:
        raise ConnectionError(f"POST https://hooks.example/{self.token} refused")


class UnbuildableNotifier:
    def __init__(self, **options: object) -> None:
        raise TypeError("missing webhook_url")


@pytest.fixture
def manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginManager]:
    """A plugin manager with the core's builtins and a test plugin registering three notifiers."""
    module = types.ModuleType(PLUGIN_MODULE)
    module.MemoryNotifier = MemoryNotifier  # type: ignore[attr-defined]
    module.BrokenNotifier = BrokenNotifier  # type: ignore[attr-defined]
    module.UnbuildableNotifier = UnbuildableNotifier  # type: ignore[attr-defined]

    @hookimpl
    def headwater_register_notifiers(register: object) -> None:
        for name in ("Memory", "Broken", "Unbuildable"):
            register(name.lower(), f"{PLUGIN_MODULE}:{name}Notifier")  # type: ignore[operator]

    module.headwater_register_notifiers = headwater_register_notifiers  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, PLUGIN_MODULE, module)
    MemoryNotifier.instances.clear()
    pm = PluginManager(entry_points=False)
    pm.register_module(module, name="alert-test")
    reset_manager(pm)
    yield pm
    reset_manager(None)


def _alert(kind: AlertKind = AlertKind.FAILURE, **extra: object) -> Alert:
    return Alert(kind=kind, pipeline_id="etl", run_id="etl__r1", task_id="extract", message="boom", **extra)  # type: ignore[arg-type]


# -- delivery ---------------------------------------------------------------------------------------


def test_send_delivers_to_every_notifier_built_once_with_its_options(manager: PluginManager) -> None:
    alerter = Alerter(["memory", "console"], options={"memory": {"channel": "#data"}}, manager=manager)
    assert MemoryNotifier.instances == []  # nothing is built before the first alert
    first, second = _alert(), _alert(AlertKind.RETRY)
    alerter.send(first)
    alerter.send(second)
    (memory,) = MemoryNotifier.instances
    assert memory.options == {"channel": "#data"}
    assert memory.alerts == [first, second]


def test_closing_the_alerter_delivers_the_queue_then_closes_each_notifier(manager: PluginManager) -> None:
    alerter = Alerter(["memory", "console"], manager=manager, background=True)
    alerter.send(_alert())
    alerter.send(_alert(AlertKind.RETRY))
    alerter.close()
    (memory,) = MemoryNotifier.instances
    assert memory.closed_after == 2  # closed once every queued alert was delivered


def test_a_failing_notifier_is_logged_masked_and_the_others_still_deliver(
    manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    add_secret(SECRET)
    alerter = Alerter(["broken", "memory"], options={"broken": {"token": SECRET}}, manager=manager)
    with caplog.at_level(logging.ERROR, logger="headwater.alerts"):
        alerter.send(_alert())  # must not raise
    assert len(MemoryNotifier.instances[0].alerts) == 1
    (record,) = [r for r in caplog.records if r.name == "headwater.alerts"]
    text = record.getMessage()
    assert "notifier 'broken' failed to deliver the failure alert for etl/extract (etl__r1)" in text
    assert "ConnectionError: POST https://hooks.example/*** refused" in text
    assert SECRET not in text


def test_a_notifier_that_cannot_be_built_is_reported_on_each_alert(
    manager: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    alerter = Alerter(["unbuildable", "memory"], manager=manager)
    with caplog.at_level(logging.ERROR, logger="headwater.alerts"):
        alerter.send(_alert())
        alerter.send(_alert(AlertKind.CIRCUIT_OPEN))
    messages = [r.getMessage() for r in caplog.records if r.name == "headwater.alerts"]
    assert len(messages) == 2
    assert "not delivered via notifier 'unbuildable'" in messages[0]
    assert messages[0].endswith("notifier could not be created: TypeError: missing webhook_url")
    assert messages[1].startswith("circuit_open alert for etl/extract")
    assert len(MemoryNotifier.instances[0].alerts) == 2


def test_unknown_notifier_fails_at_construction_with_the_install_hint(manager: PluginManager) -> None:
    with pytest.raises(ConfigError) as caught:
        Alerter(["memory", "slack"], manager=manager)
    message = str(caught.value)
    assert message.startswith("notifiers: no installed plugin provides the notifier 'slack'")
    assert "pip install headwater-slack" in message
    assert "installed notifiers: broken, console, memory, unbuildable" in message


def test_alerting_off_sends_nothing_and_checks_nothing(manager: PluginManager) -> None:
    alerter = Alerter(["memory", "no-such-notifier"], enabled=False, manager=manager)
    alerter.send(_alert())
    assert MemoryNotifier.instances == []
    assert not alerter.wants(AlertKind.FAILURE)


def test_alert_on_filters_the_kinds_delivered(manager: PluginManager) -> None:
    alerter = Alerter(["memory"], alert_on=["failure", AlertKind.CIRCUIT_OPEN], manager=manager)
    for kind in AlertKind:
        alerter.send(_alert(kind))
    assert [a.kind for a in MemoryNotifier.instances[0].alerts] == [AlertKind.FAILURE, AlertKind.CIRCUIT_OPEN]
    assert alerter.wants(AlertKind.FAILURE) and not alerter.wants(AlertKind.RETRY)


def test_background_delivery_happens_off_the_caller_thread_and_close_drains_it(manager: PluginManager) -> None:
    alerter = Alerter(["memory"], manager=manager, background=True)
    alerts = [_alert(AlertKind.RETRY, try_number=n) for n in range(1, 21)]
    for alert in alerts:
        alerter.send(alert)
    alerter.close()
    (memory,) = MemoryNotifier.instances
    assert memory.alerts == alerts
    assert set(memory.threads) == {"headwater-alerts"}
    alerter.send(_alert())  # after close: delivered at once, in the caller's thread
    assert memory.threads[-1] == threading.current_thread().name


# -- settings ---------------------------------------------------------------------------------------


def test_from_settings_uses_notifiers_options_and_alert_on(manager: PluginManager) -> None:
    settings = Settings(notifiers=["memory"], notifier_options={"memory": {"to": "ops"}}, alert_on=["retry"])
    alerter = Alerter.from_settings(settings)  # the process-wide manager: the fixture's
    alerter.send(_alert(AlertKind.FAILURE))
    alerter.send(_alert(AlertKind.RETRY))
    (memory,) = MemoryNotifier.instances
    assert memory.options == {"to": "ops"}
    assert [a.kind for a in memory.alerts] == [AlertKind.RETRY]


def test_from_settings_with_alerting_off_is_silent(manager: PluginManager) -> None:
    alerter = Alerter.from_settings(Settings(alerting=False, notifiers=["memory"]))
    alerter.send(_alert())
    assert MemoryNotifier.instances == []


def test_the_older_notifier_key_still_works() -> None:
    assert Settings().alert_notifiers == ["console"]
    assert Settings(notifier="slack").alert_notifiers == ["slack"]
    assert Settings(notifiers=["console", "email"]).alert_notifiers == ["console", "email"]
    assert Settings(notifier="email", notifiers=["console", "email"]).alert_notifiers == ["console", "email"]
    assert Settings(notifiers=[]).alert_notifiers == []


def test_settings_from_file_and_environment(tmp_path: Path) -> None:
    (tmp_path / "headwater.toml").write_text(
        'notifiers = ["console", "slack"]\nalert_on = ["failure", "circuit_open"]\n'
        '[notifier_options.slack]\nchannel = "#data"\nmention = ["@oncall"]\n',
        encoding="utf-8",
    )
    settings = load_project(tmp_path, environ={}).settings
    assert settings.alert_notifiers == ["console", "slack"]
    assert settings.notifier_options == {"slack": {"channel": "#data", "mention": ["@oncall"]}}
    assert settings.alert_on == ["failure", "circuit_open"]
    env = {"HEADWATER_NOTIFIERS": "email, console", "HEADWATER_ALERT_ON": "failure"}
    overridden = load_project(tmp_path, environ=env).settings
    assert (overridden.alert_notifiers, overridden.alert_on) == (["email", "console"], ["failure"])


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('notifier = "email"\nnotifiers = ["console"]\n', "notifier = 'email' is not in notifiers = ['console']"),
        ('alert_on = ["failure", "late"]\n', "alert_on: Value error, unknown alert kind 'late'"),
        ('notifiers = ["console", ""]\n', "notifier names must not be empty"),
        ('notifier_options = {slack = "x"}\n', "notifier_options.slack"),
    ],
)
def test_bad_notifier_settings_are_config_errors(tmp_path: Path, toml: str, fragment: str) -> None:
    (tmp_path / "headwater.toml").write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path, environ={})
    assert fragment in str(caught.value)
    assert str(tmp_path / "headwater.toml") in str(caught.value)


# -- the standard alerts ----------------------------------------------------------------------------


def test_retry_alert_message() -> None:
    alert = retry_alert(
        pipeline_id="etl",
        run_id="etl__r1",
        task_id="extract",
        try_number=2,
        max_tries=4,
        delay=90,
        error="ConnectionError: refused\nTraceback...",
        logical_date=datetime(2026, 1, 2, tzinfo=UTC),
    )
    assert alert.kind is AlertKind.RETRY
    assert alert.message == "task extract failed on try 2/4, retrying in 1m30s: ConnectionError: refused"
    assert (alert.try_number, alert.logical_date) == (2, "2026-01-02T00:00:00+00:00")
    assert alert.error == "ConnectionError: refused\nTraceback..."


def test_failure_alert_says_why_it_was_not_retried() -> None:
    alert = failure_alert(
        pipeline_id="etl",
        run_id="etl__r1",
        task_id="extract",
        try_number=3,
        error="TimeoutError: slow",
        reason="retry budget of 2h exhausted after 3 tries (2h04m since the first try started)",
    )
    assert alert.kind is AlertKind.FAILURE
    assert alert.message == (
        "task extract failed on try 3, retry budget of 2h exhausted after 3 tries"
        " (2h04m since the first try started): TimeoutError: slow"
    )


def test_run_alerts() -> None:
    ok = run_alert(pipeline_id="etl", run_id="r", succeeded=True, duration=123)
    assert (ok.kind, ok.message) == (AlertKind.SUCCESS, "run succeeded in 2m03s")
    bad = run_alert(pipeline_id="etl", run_id="r", succeeded=False, failed_tasks=["extract", "load"], duration=5)
    assert (bad.kind, bad.message) == (AlertKind.FAILURE, "run failed in 5.00s: 2 tasks failed (extract, load)")


def test_circuit_open_alert_tells_how_to_close_it() -> None:
    transition = BreakerTransition(
        pipeline_id="etl",
        task_id="extract",
        run_id="etl__r5",
        consecutive_failures=5,
        threshold=5,
        opened_at=datetime(2026, 1, 5, 6, tzinfo=UTC).timestamp(),
        error="ConnectionError: refused",
    )
    alert = circuit_open_alert(transition)
    assert alert.kind is AlertKind.CIRCUIT_OPEN
    assert alert.message == (
        "circuit breaker of task extract opened after 5 consecutive failed runs (threshold 5);"
        " close it with `headwater reset etl extract`"
    )
    assert alert.details["opened_at"] == "2026-01-05T06:00:00+00:00"


def test_deadline_alerts() -> None:
    deadline = datetime(2026, 1, 2, 10, tzinfo=UTC)
    missed = deadline_alert(
        pipeline_id="etl",
        run_id="r",
        predicted=False,
        deadline_at=deadline,
        minutes_late=12.4,
        critical_path=["a", "b"],
    )
    assert missed.kind is AlertKind.DEADLINE_MISSED
    assert missed.message == "run missed its deadline of 2026-01-02 10:00 UTC by 12 min"
    assert (missed.minutes_late, missed.critical_path) == (12.4, ("a", "b"))
    predicted = deadline_alert(
        pipeline_id="etl",
        run_id="r",
        predicted=True,
        deadline_at=deadline,
        minutes_late=7.5,
        expected_end_at=datetime(2026, 1, 2, 10, 7, 30, tzinfo=UTC),
    )
    assert predicted.kind is AlertKind.DEADLINE_PREDICTED
    assert predicted.message == (
        "run is predicted to miss its deadline of 2026-01-02 10:00 UTC by 7.5 min"
        " (expected to end at 2026-01-02 10:07 UTC)"
    )


def test_freshness_alert() -> None:
    alert = freshness_alert(pipeline_id="etl", asset="orders", lag=3 * 3600 + 600, max_lag=7200)
    assert (alert.kind, alert.run_id, alert.task_id) == (AlertKind.FRESHNESS, "", "orders")
    assert alert.message == "asset orders is 3h10m old, over its max lag of 2h (never materialized)"


# -- the console notifier ---------------------------------------------------------------------------


def _console_lines(caplog: pytest.LogCaptureFixture, *alerts: Alert) -> list[tuple[int, str]]:
    from headwater.builtins.notify import ConsoleNotifier

    notifier = ConsoleNotifier()
    with caplog.at_level(logging.INFO, logger="headwater.alerts"):
        for alert in alerts:
            notifier.notify(alert)
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "headwater.alerts"]


def test_console_prints_deadline_alerts_with_lateness_and_critical_path(caplog: pytest.LogCaptureFixture) -> None:
    alert = deadline_alert(
        pipeline_id="etl",
        run_id="etl__r1",
        predicted=False,
        deadline_at=datetime(2026, 1, 2, 10, tzinfo=UTC),
        minutes_late=12.4,
        critical_path=["extract", "transform", "load"],
        logical_date="2026-01-02",
    )
    ((level, line),) = _console_lines(caplog, alert)
    assert level == logging.ERROR
    assert line == (
        "[deadline_missed] etl (etl__r1, 2026-01-02): run missed its deadline of 2026-01-02 10:00 UTC by 12 min"
        " | 12 min late | critical path: extract -> transform -> load"
    )


def test_console_levels_and_error_shown_once(caplog: pytest.LogCaptureFixture) -> None:
    retry = retry_alert(
        pipeline_id="etl", run_id="r1", task_id="t", try_number=1, max_tries=2, delay=0, error="OSError: x"
    )
    old_style = Alert(kind=AlertKind.FAILURE, pipeline_id="etl", run_id="r1", message="it broke", error="ValueError: y")
    lines = _console_lines(caplog, retry, old_style, _alert(AlertKind.SUCCESS, log_path="/logs/t.1.log"))
    assert lines == [
        (logging.WARNING, "[retry] etl/t (r1): task t failed on try 1/2, retrying now: OSError: x"),
        (logging.ERROR, "[failure] etl (r1): it broke | ValueError: y"),
        (logging.INFO, "[success] etl/extract (etl__r1): boom | log: /logs/t.1.log"),
    ]


def test_notify_operator_accepts_the_new_kinds() -> None:
    op = NotifyOperator("page", message="late!", kind="deadline_missed")
    assert op.kind is AlertKind.DEADLINE_MISSED
