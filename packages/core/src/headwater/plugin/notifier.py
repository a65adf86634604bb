"""The notifier contract: what an alert carries and the one method a notifier implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class AlertKind(StrEnum):
    """What happened. Notifiers may use it to pick a channel, a colour or an urgency."""

    SUCCESS = "success"
    FAILURE = "failure"
    RETRY = "retry"
    INFO = "info"
    #: a run ended after its deadline (``minutes_late``, ``critical_path``)
    DEADLINE_MISSED = "deadline_missed"
    #: a run is still going and is predicted to end after its deadline
    DEADLINE_PREDICTED = "deadline_predicted"
    #: a task failed its ``circuit_breaker`` runs in a row: its breaker opened
    CIRCUIT_OPEN = "circuit_open"
    #: an asset is staler than its freshness policy allows
    FRESHNESS = "freshness"


@dataclass(frozen=True, kw_only=True, slots=True)
class Alert:
    """Something a person may need to know about a run (``run_id`` is empty when no run is concerned)."""

    kind: AlertKind
    pipeline_id: str
    run_id: str = ""
    message: str
    task_id: str | None = None
    try_number: int | None = None
    error: str | None = None
    log_path: str | None = None
    details: dict[str, str] = field(default_factory=dict)
    #: the run's logical date, ISO 8601
    logical_date: str | None = None
    #: deadline alerts: how late the run is (or is predicted to be), in minutes
    minutes_late: float | None = None
    #: deadline alerts: the chain of tasks that decides when the run ends
    critical_path: tuple[str, ...] = ()
    #: a link to the run or the task's log in the web UI, when one is configured
    log_url: str | None = None


class Notifier(Protocol):
    """Delivers alerts (console, Slack, email...). Constructed with keyword options from config."""

    def notify(self, alert: Alert) -> None:
        """Deliver ``alert``; raise on failure so the notifying task can retry."""
        ...
