"""Run progress for people: a live rich view on a terminal, plain lines otherwise, and the summary."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.console import RenderableType

from headwater.engine.listener import RunSummary, TaskSummary
from headwater.model.durations import format_duration

_SHOWN = {"running", "success", "failed", "up_for_retry", "skipped", "upstream_failed"}
_STYLE = {
    "success": "green",
    "failed": "red",
    "upstream_failed": "red",
    "up_for_retry": "yellow",
    "skipped": "bright_black",
    "running": "cyan",
    "queued": "blue",
    "scheduled": "white",
}


class PlainProgress:
    """One line per meaningful state change (for logs, CI, pipes)."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.start = time.monotonic()

    def run_started(self, run_id: str, pipeline_id: str, task_ids: list[str], resumed: bool) -> None:
        verb = "resuming" if resumed else "starting"
        self.out.write(f"{verb} run {run_id} of {pipeline_id} ({len(task_ids)} tasks)\n")

    def task_changed(self, task_id: str, state: str, try_number: int, error: str | None) -> None:
        if state not in _SHOWN:
            return
        elapsed = time.monotonic() - self.start
        line = f"[{elapsed:7.2f}s] {state:<15} {task_id}"
        if try_number > 1:
            line += f" (try {try_number})"
        if error and state in ("failed", "up_for_retry", "upstream_failed", "skipped"):
            line += f": {error.splitlines()[0][:200]}"
        self.out.write(line + "\n")

    def run_finished(self, summary: RunSummary) -> None:
        self.out.flush()


class LiveProgress:
    """A rich live view: overall progress, counts per state, what is running, what failed."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.states: dict[str, str] = {}
        self.failures: list[str] = []
        self.title = ""
        self.start = time.monotonic()
        self.live = Live(console=self.console, refresh_per_second=10, transient=True, get_renderable=self._render)

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.text import Text

        counts = Counter(self.states.values())
        total = len(self.states) or 1
        done = sum(counts[s] for s in ("success", "failed", "skipped", "upstream_failed"))
        parts: list[RenderableType] = [
            Text(f"{self.title}  {done}/{total} done  {time.monotonic() - self.start:.1f}s", style="bold"),
            ProgressBar(total=total, completed=done, width=60),
            Text("  ".join(f"{state} {n}" for state, n in sorted(counts.items()))),
        ]
        running = [t for t, s in self.states.items() if s == "running"][:10]
        if running:
            parts.append(Text("running: " + ", ".join(running), style="cyan"))
        for line in self.failures[-5:]:
            parts.append(Text(line, style="red"))
        return Group(*parts)

    def run_started(self, run_id: str, pipeline_id: str, task_ids: list[str], resumed: bool) -> None:
        self.title = f"{'resuming' if resumed else 'running'} {pipeline_id} ({run_id})"
        self.states = dict.fromkeys(task_ids, "scheduled")
        self.live.start()

    def task_changed(self, task_id: str, state: str, try_number: int, error: str | None) -> None:
        self.states[task_id] = state
        if error and state in ("failed", "up_for_retry"):
            self.failures.append(f"{state} {task_id} (try {try_number}): {error.splitlines()[0][:160]}")

    def run_finished(self, summary: RunSummary) -> None:
        self.live.stop()


def make_progress(quiet: bool) -> PlainProgress | LiveProgress | None:
    if quiet:
        return None
    return LiveProgress() if sys.stdout.isatty() else PlainProgress()


def _state(task: TaskSummary) -> str:
    """The state to show: ``success (cached)`` for a task that reused a cached result."""
    return f"{task.state} (cached)" if task.cached else task.state


_COUNT_ORDER = (
    "success",
    "failed",
    "upstream_failed",
    "skipped",
    "running",
    "queued",
    "up_for_retry",
    "up_for_reschedule",
    "scheduled",
)


def state_counts(states: Iterable[str]) -> str:
    """``4998 success, 2 failed``: how many of some tasks (a mapped task's instances) are in each state."""
    counts = Counter(states)
    order = [s for s in _COUNT_ORDER if s in counts] + sorted(set(counts) - set(_COUNT_ORDER))
    return ", ".join(f"{counts[s]} {s}" for s in order)


def compact_tasks(tasks: list[TaskSummary]) -> list[TaskSummary]:
    """The tasks to show: the instances of a mapped task folded into one line after it (``fetch[0..4999]``)."""
    from headwater.model.mapped import group_instances, index_range

    by_id = {t.task_id: t for t in tasks}
    groups = {node: ids for node, ids in group_instances(by_id).items() if node in by_id}
    if not groups:
        return tasks
    folded = {task_id for ids in groups.values() for task_id in ids}
    shown: list[TaskSummary] = []
    for t in tasks:
        if t.task_id in folded:
            continue
        shown.append(t)
        if t.task_id not in groups:
            continue
        members = [by_id[i] for i in groups[t.task_id]]
        failed = next((m for m in members if m.state == "failed"), None)
        shown.append(
            TaskSummary(
                task_id="  " + index_range(t.task_id, len(members)),
                state=state_counts(m.state for m in members),
                tries=sum(m.tries for m in members),
                duration=max((m.duration for m in members if m.duration is not None), default=None),
                error=f"{failed.task_id}: {failed.error}" if failed is not None and failed.error else None,
            )
        )
    return shown


def print_summary(summary: RunSummary, out: TextIO | None = None) -> None:
    """Every task's state, tries and duration (a mapped task's instances on one line), then the run's outcome."""
    out = out or sys.stdout
    tasks = compact_tasks(summary.tasks)
    if out.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"run {summary.run_id}", title_justify="left")
        for column in ("task", "state", "tries", "duration", "error"):
            table.add_column(column)
        for t in tasks:
            style = _STYLE.get(t.state, "default")
            table.add_row(
                t.task_id,
                f"[{style}]{_state(t)}[/]",
                str(t.tries),
                format_duration(t.duration),
                (t.error or "").splitlines()[0][:80] if t.error else "",
            )
        Console(file=out).print(table)
    else:
        width = max([len("task"), *(len(t.task_id) for t in tasks)])
        out.write(f"{'task':<{width}}  {'state':<16} tries  duration\n")
        for t in tasks:
            line = f"{t.task_id:<{width}}  {_state(t):<16} {t.tries:>5}  {format_duration(t.duration):>8}"
            if t.error:
                line += f"  {t.error.splitlines()[0][:160]}"
            out.write(line + "\n")
    failed = [t for t in summary.tasks if t.state in ("failed", "upstream_failed")]
    verdict = "succeeded" if summary.ok else f"FAILED ({len(failed)} task(s) failed or blocked)"
    out.write(f"run {summary.run_id} {verdict} in {format_duration(summary.duration)}\n")
