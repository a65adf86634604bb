"""Deliver alerts to the configured notifiers, and build the standard alerts the engine sends.

:class:`Alerter` is built once at startup from the settings (``alerting``, ``notifiers``,
``notifier_options``, ``alert_on``); an unknown notifier name fails there with the plugin
manager's install hint. ``send`` never raises: a notifier that fails is logged on the
``headwater.alerts`` logger and the others still get the alert.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from headwater.errors import ConfigError, DefinitionError
from headwater.model.durations import format_duration
from headwater.model.retry import compact_duration
from headwater.plugin.notifier import Alert, AlertKind, Notifier
from headwater.secrets import mask

if TYPE_CHECKING:
    from headwater.config.settings import Settings
    from headwater.plugin.manager import PluginManager
    from headwater.store.breakers import BreakerTransition

logger = logging.getLogger("headwater.alerts")

_STOP = object()
ERROR_LINE_LIMIT = 300


class Alerter:
    """Sends each alert to every configured notifier.

    ``notifiers`` are registered notifier names (``console``, ``slack``, ...), each built once,
    on first use, with its keyword ``options``. ``alert_on`` limits the kinds delivered (None:
    all). With ``enabled=False`` nothing is resolved and ``send`` does nothing. With
    ``background=True`` ``send`` only queues the alert and a daemon thread delivers it, so a
    slow notifier never delays the engine; :meth:`close` waits for the queue to drain.
    """

    def __init__(
        self,
        notifiers: Sequence[str] = ("console",),
        *,
        options: Mapping[str, Mapping[str, object]] | None = None,
        enabled: bool = True,
        alert_on: Collection[AlertKind | str] | None = None,
        manager: PluginManager | None = None,
        background: bool = False,
    ) -> None:
        self.enabled = enabled and bool(notifiers)
        self.names = tuple(dict.fromkeys(notifiers))
        self.alert_on = None if alert_on is None else frozenset(AlertKind(k) for k in alert_on)
        self._options = {name: dict(opts) for name, opts in (options or {}).items()}
        self._background = background
        self._lock = threading.Lock()
        self._notifiers: list[tuple[str, Notifier | str]] | None = None
        self._queue: queue.SimpleQueue[object] | None = None
        self._thread: threading.Thread | None = None
        self._manager = manager
        if self.enabled:
            if self._manager is None:
                from headwater.plugin.manager import get_manager

                self._manager = get_manager()
            from headwater.plugin.manager import Kind

            for name in self.names:
                try:
                    self._manager.registration(Kind.NOTIFIER, name)
                except DefinitionError as exc:
                    raise ConfigError(f"notifiers: {exc.message}") from None

    @classmethod
    def from_settings(
        cls, settings: Settings, *, manager: PluginManager | None = None, background: bool = False
    ) -> Alerter:
        """The alerter the settings describe (raises ConfigError for an unknown notifier)."""
        return cls(
            settings.alert_notifiers,
            options=settings.notifier_options,
            enabled=settings.alerting,
            alert_on=settings.alert_on,
            manager=manager,
            background=background,
        )

    def wants(self, kind: AlertKind) -> bool:
        """Whether an alert of ``kind`` would be delivered (lets callers skip building it)."""
        return self.enabled and (self.alert_on is None or kind in self.alert_on)

    def send(self, alert: Alert) -> None:
        """Deliver ``alert`` to every notifier (or queue it, in background mode). Never raises."""
        if not self.wants(alert.kind):
            return
        if self._background:
            with self._lock:
                if self._queue is None:
                    self._queue = queue.SimpleQueue()
                    self._thread = threading.Thread(target=self._drain, name="headwater-alerts", daemon=True)
                    self._thread.start()
                if self._thread is not None:
                    self._queue.put(alert)
                    return
        self._deliver(alert)

    def close(self, timeout: float | None = 10.0) -> None:
        """Deliver what is queued (background mode), stop the thread, and close every notifier that
        has a ``close()`` (one holding back a summary sends it now); later sends deliver at once."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is not None and self._queue is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            notifiers = list(self._notifiers or ())
        for name, notifier in notifiers:
            finish = getattr(notifier, "close", None)
            if isinstance(notifier, str) or not callable(finish):
                continue
            try:
                finish()
            except Exception as exc:  # a notifier failing to flush must not fail the run
                logger.error("notifier %r failed while closing: %s", name, mask(f"{type(exc).__name__}: {exc}"))

    # -- internals ---------------------------------------------------------------------
    def _drain(self) -> None:
        q = self._queue
        assert q is not None
        while (item := q.get()) is not _STOP:
            assert isinstance(item, Alert)
            self._deliver(item)

    def _deliver(self, alert: Alert) -> None:
        for name, notifier in self._built():
            if isinstance(notifier, str):
                logger.error(
                    "%s alert %s not delivered via notifier %r: %s", alert.kind.value, _where(alert), name, notifier
                )
                continue
            try:
                notifier.notify(alert)
            except Exception as exc:  # one broken notifier must not stop the others or the engine
                logger.error(
                    "notifier %r failed to deliver the %s alert %s: %s",
                    name,
                    alert.kind.value,
                    _where(alert),
                    mask(f"{type(exc).__name__}: {exc}"),
                )

    def _built(self) -> list[tuple[str, Notifier | str]]:
        """Each notifier, built once; a notifier that cannot be built is kept as its error message."""
        with self._lock:
            if self._notifiers is None:
                from headwater.plugin.manager import Kind

                assert self._manager is not None
                built: list[tuple[str, Notifier | str]] = []
                for name in self.names:
                    try:
                        factory = self._manager.resolve(Kind.NOTIFIER, name)
                        if not callable(factory):
                            raise TypeError(f"{factory!r} is not callable")
                        built.append((name, factory(**self._options.get(name, {}))))
                    except Exception as exc:
                        built.append((name, mask(f"notifier could not be created: {type(exc).__name__}: {exc}")))
                self._notifiers = built
            return self._notifiers


def _where(alert: Alert) -> str:
    where = f"{alert.pipeline_id}/{alert.task_id}" if alert.task_id else alert.pipeline_id
    return f"for {where}" + (f" ({alert.run_id})" if alert.run_id else "")


# -- the standard alerts ------------------------------------------------------------------


def _iso(value: datetime | str | None) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _clock_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _error_line(error: str) -> str:
    line = error.strip().splitlines()[0] if error.strip() else "failed"
    return line if len(line) <= ERROR_LINE_LIMIT else line[: ERROR_LINE_LIMIT - 3] + "..."


def retry_alert(
    *,
    pipeline_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    max_tries: int,
    delay: float,
    error: str,
    logical_date: datetime | str | None = None,
    log_path: str | None = None,
) -> Alert:
    """``task extract failed on try 2/4, retrying in 1m30s: ConnectionError: ...``"""
    when = f"in {compact_duration(delay)}" if delay > 0 else "now"
    return Alert(
        kind=AlertKind.RETRY,
        pipeline_id=pipeline_id,
        run_id=run_id,
        task_id=task_id,
        try_number=try_number,
        message=f"task {task_id} failed on try {try_number}/{max_tries}, retrying {when}: {_error_line(error)}",
        error=error,
        logical_date=_iso(logical_date),
        log_path=log_path,
        details={"retry_delay": f"{delay:g}", "max_tries": str(max_tries)},
    )


def failure_alert(
    *,
    pipeline_id: str,
    run_id: str,
    task_id: str,
    try_number: int,
    error: str,
    reason: str | None = None,
    logical_date: datetime | str | None = None,
    log_path: str | None = None,
    max_tries: int | None = None,
) -> Alert:
    """``task extract failed on try 4, no retries left (4 tries): ConnectionError: ...``

    ``reason`` is why it was not retried (:attr:`RetryDecision.reason`); ``max_tries`` (in
    ``details``) how many tries the task had, for notifiers that show ``try 3/3``.
    """
    because = f", {reason}" if reason else ""
    details = {"reason": reason} if reason else {}
    if max_tries is not None:
        details["max_tries"] = str(max_tries)
    return Alert(
        kind=AlertKind.FAILURE,
        pipeline_id=pipeline_id,
        run_id=run_id,
        task_id=task_id,
        try_number=try_number,
        message=f"task {task_id} failed on try {try_number}{because}: {_error_line(error)}",
        error=error,
        logical_date=_iso(logical_date),
        log_path=log_path,
        details=details,
    )


def run_alert(
    *,
    pipeline_id: str,
    run_id: str,
    succeeded: bool,
    failed_tasks: Sequence[str] = (),
    duration: float | None = None,
    logical_date: datetime | str | None = None,
) -> Alert:
    """``run succeeded in 2m03s`` / ``run failed in 2m03s: 2 tasks failed (extract, load)``"""
    took = f" in {format_duration(duration)}" if duration is not None else ""
    message = f"run {'succeeded' if succeeded else 'failed'}{took}"
    if failed_tasks:
        names = ", ".join(failed_tasks)
        message += f": {len(failed_tasks)} task{'s' if len(failed_tasks) != 1 else ''} failed ({names})"
    return Alert(
        kind=AlertKind.SUCCESS if succeeded else AlertKind.FAILURE,
        pipeline_id=pipeline_id,
        run_id=run_id,
        message=message,
        logical_date=_iso(logical_date),
    )


def circuit_open_alert(transition: BreakerTransition, *, logical_date: datetime | str | None = None) -> Alert:
    """``circuit breaker of task extract opened after 5 consecutive failed runs; close it with ...``"""
    p, t = transition.pipeline_id, transition.task_id
    return Alert(
        kind=AlertKind.CIRCUIT_OPEN,
        pipeline_id=p,
        run_id=transition.run_id,
        task_id=t,
        message=(
            f"circuit breaker of task {t} opened after {transition.consecutive_failures} consecutive failed runs"
            f" (threshold {transition.threshold}); close it with `headwater reset {p} {t}`"
        ),
        error=transition.error,
        logical_date=_iso(logical_date),
        details={
            "consecutive_failures": str(transition.consecutive_failures),
            "threshold": str(transition.threshold),
            "opened_at": datetime.fromtimestamp(transition.opened_at, UTC).isoformat(),
        },
    )


def deadline_alert(
    *,
    pipeline_id: str,
    run_id: str,
    predicted: bool,
    deadline_at: datetime,
    minutes_late: float,
    critical_path: Sequence[str] = (),
    expected_end_at: datetime | None = None,
    logical_date: datetime | str | None = None,
) -> Alert:
    """A run missed (or, ``predicted``, will miss) its deadline by ``minutes_late`` minutes."""
    late = f"{minutes_late:.0f} min" if abs(minutes_late) >= 10 else f"{minutes_late:.1f} min"
    if predicted:
        message = f"run is predicted to miss its deadline of {_clock_time(deadline_at)} by {late}"
        if expected_end_at is not None:
            message += f" (expected to end at {_clock_time(expected_end_at)})"
    else:
        message = f"run missed its deadline of {_clock_time(deadline_at)} by {late}"
    details = {"deadline_at": deadline_at.isoformat()}
    if expected_end_at is not None:
        details["expected_end_at"] = expected_end_at.isoformat()
    return Alert(
        kind=AlertKind.DEADLINE_PREDICTED if predicted else AlertKind.DEADLINE_MISSED,
        pipeline_id=pipeline_id,
        run_id=run_id,
        message=message,
        logical_date=_iso(logical_date),
        minutes_late=minutes_late,
        critical_path=tuple(critical_path),
        details=details,
    )


def freshness_alert(
    *,
    pipeline_id: str,
    asset: str,
    lag: float,
    max_lag: float,
    last_materialized_at: datetime | None = None,
    partition: str | None = None,
    expected_by: datetime | None = None,
    minutes_late: float | None = None,
) -> Alert:
    """``asset orders is 3h10m old, over its max lag of 2h (last materialized ...)``

    A partition names itself (``asset orders partition 2026-03-01 ...``); one never materialized
    with an ``expected_by`` reads ``... has never been materialized, due 2026-03-02 02:00 UTC (max lag 2h)``.
    """
    name = f"asset {asset}" + (f" partition {partition}" if partition else "")
    if last_materialized_at is None and expected_by is not None:
        message = f"{name} has never been materialized, due {_clock_time(expected_by)}"
        message += f" (max lag {compact_duration(max_lag)})"
    else:
        message = f"{name} is {format_duration(lag)} old, over its max lag of {compact_duration(max_lag)}"
        message += (
            f" (last materialized {_clock_time(last_materialized_at)})"
            if last_materialized_at is not None
            else " (never materialized)"
        )
    details = {"asset": asset, "lag": f"{lag:g}", "max_lag": f"{max_lag:g}"}
    if partition is not None:
        details["partition"] = partition
    if expected_by is not None:
        details["expected_by"] = expected_by.isoformat()
    return Alert(
        kind=AlertKind.FRESHNESS,
        pipeline_id=pipeline_id,
        task_id=asset,
        message=message,
        details=details,
        minutes_late=minutes_late,
    )
