"""The notifier contract: what an alert carries and the one method a notifier implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class AlertKind(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    RETRY = "retry"
    INFO = "info"


@dataclass(frozen=True, kw_only=True, slots=True)
class Alert:
    """Something a person may need to know about a run."""

    kind: AlertKind
    pipeline_id: str
    run_id: str
    message: str
    task_id: str | None = None
    try_number: int | None = None
    error: str | None = None
    log_path: str | None = None
    details: dict[str, str] = field(default_factory=dict)


class Notifier(Protocol):
    """Delivers alerts (console, Slack, email...). Constructed with keyword options from config."""

    def notify(self, alert: Alert) -> None:
        """Deliver ``alert``; raise on failure so the notifying task can retry."""
        ...
