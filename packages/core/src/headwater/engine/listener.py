"""How the engine reports progress (the CLI turns these calls into a display)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class TaskSummary:
    task_id: str
    state: str
    tries: int
    duration: float | None
    error: str | None = None
    #: What the last try did instead of running the task's code, e.g. "cache hit (key 3f2a9c1b, ...)".
    note: str | None = None

    @property
    def cached(self) -> bool:
        """True when the task succeeded by reusing a cached result."""
        return self.note is not None and self.note.startswith("cache hit")


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The outcome of a run: its state and every task's state, tries and duration."""

    run_id: str
    pipeline_id: str
    state: str
    duration: float | None
    tasks: list[TaskSummary] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "success"

    def task(self, task_id: str) -> TaskSummary:
        for summary in self.tasks:
            if summary.task_id == task_id:
                return summary
        raise KeyError(task_id)


class RunListener(Protocol):
    def run_started(self, run_id: str, pipeline_id: str, task_ids: list[str], resumed: bool) -> None: ...

    def task_changed(self, task_id: str, state: str, try_number: int, error: str | None) -> None: ...

    def run_finished(self, summary: RunSummary) -> None: ...


class NullListener:
    def run_started(self, run_id: str, pipeline_id: str, task_ids: list[str], resumed: bool) -> None:
        pass

    def task_changed(self, task_id: str, state: str, try_number: int, error: str | None) -> None:
        pass

    def run_finished(self, summary: RunSummary) -> None:
        pass
