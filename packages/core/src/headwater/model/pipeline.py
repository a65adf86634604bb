"""Pipeline: a named graph of tasks with a schedule, defaults and params."""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime, time, tzinfo
from types import TracebackType
from typing import TYPE_CHECKING

from headwater.errors import DefinitionError
from headwater.model.durations import Duration, parse_duration
from headwater.model.graph import topological_order
from headwater.model.options import check_option_names, resolve_options
from headwater.model.schedule import cron_expression, parse_date, parse_timezone

if TYPE_CHECKING:
    from headwater.model.asset import AssetDefinition
    from headwater.model.deadline import Deadline
    from headwater.model.operator import Operator
    from headwater.model.triggers import Trigger

_PIPELINE_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")
_local = threading.local()
#: The reserved id of the pipeline made of the project's assets (``headwater materialize``).
ASSETS_PIPELINE_ID = "assets"


def _stack(name: str) -> list[object]:
    stack: list[object] | None = getattr(_local, name, None)
    if stack is None:
        stack = []
        setattr(_local, name, stack)
    return stack


def current_pipeline() -> Pipeline | None:
    """The pipeline whose ``with`` block is open in this thread, if any."""
    stack = _stack("active")
    return stack[-1] if stack else None  # type: ignore[return-value]


class collect_pipelines:  # noqa: N801 - used like a function: `with collect_pipelines() as found:`
    """Gather every Pipeline created in this thread while the block is open (used by the loader)."""

    def __enter__(self) -> list[Pipeline]:
        found: list[Pipeline] = []
        _stack("collectors").append(found)
        return found

    def __exit__(self, *exc: object) -> None:
        _stack("collectors").pop()


class reserved_ids_allowed:  # noqa: N801 - used like a function: `with reserved_ids_allowed():`
    """Let the loader create the reserved ``assets`` pipeline in this thread."""

    def __enter__(self) -> None:
        _stack("reserved").append(True)

    def __exit__(self, *exc: object) -> None:
        _stack("reserved").pop()


class Pipeline:
    """A named graph of tasks. Use it as a context manager; tasks created inside join it.

    >>> with Pipeline("etl", schedule="@daily", start_date="2026-01-01") as p:
    ...     extract() >> load()
    """

    def __init__(
        self,
        id: str,
        *,
        schedule: str | Trigger | Sequence[Trigger] | None = None,
        start_date: str | date | datetime | None = None,
        end_date: str | date | datetime | None = None,
        timezone: str = "UTC",
        catchup: bool = False,
        max_active_runs: int = 1,
        timeout: Duration | None = None,
        default_args: Mapping[str, object] | None = None,
        tags: Sequence[str] = (),
        params: Mapping[str, object] | None = None,
        deadline: Duration | time | Deadline | None = None,
        description: str | None = None,
    ) -> None:
        if not isinstance(id, str) or not _PIPELINE_ID.match(id):
            raise DefinitionError(
                f"invalid pipeline id {id!r}: use letters, digits, '_', '.', '-' (at most 200 characters)"
            )
        if id == ASSETS_PIPELINE_ID and not _stack("reserved"):
            raise DefinitionError(
                f"pipeline id '{id}' is reserved for the project's assets (`headwater materialize`): choose another id",
                pipeline=id,
            )
        self.id = id
        try:
            self.tz: tzinfo = parse_timezone(timezone)
            self.timezone = timezone
            #: The event triggers that start runs (``schedule=FileArrival(...)`` or a list of triggers).
            self.triggers: tuple[Trigger, ...] = ()
            if schedule is not None and not isinstance(schedule, str):
                from headwater.model.triggers import as_triggers, describe_triggers

                self.triggers = as_triggers(schedule) or ()
                if not self.triggers:
                    raise DefinitionError(
                        "schedule: expected a cron string, a preset, None, a trigger (FileArrival, AssetUpdated, "
                        f"Webhook, DatabaseChange) or a list of triggers, got {schedule!r}"
                    )
                schedule = describe_triggers(self.triggers)  # e.g. "file:landing/*.csv | webhook:orders"
            self.schedule: str | None = schedule
            self.cron = cron_expression(schedule) if isinstance(schedule, str) and not self.triggers else None
            self.start_date = parse_date(start_date, self.tz, what="start_date")
            self.end_date = parse_date(end_date, self.tz, what="end_date")
            if self.start_date and self.end_date and self.end_date.timestamp() < self.start_date.timestamp():
                raise DefinitionError(
                    f"end_date {self.end_date.isoformat()} is before start_date {self.start_date.isoformat()}"
                )
            if self.cron is not None:
                from headwater.model.timetable import check_schedule

                check_schedule(self.cron, self.tz, self.start_date, self.end_date)
            if not isinstance(catchup, bool):
                raise DefinitionError(f"catchup: expected True or False, got {catchup!r}")
            self.catchup = catchup
            if isinstance(max_active_runs, bool) or not isinstance(max_active_runs, int) or max_active_runs < 1:
                raise DefinitionError(f"max_active_runs: expected a whole number >= 1, got {max_active_runs!r}")
            self.max_active_runs = max_active_runs
            self.timeout = None if timeout is None else parse_duration(timeout, what="timeout")
            self.deadline: Deadline | None = None
            if deadline is not None:
                from headwater.model.deadline import Deadline

                self.deadline = Deadline.parse(deadline, self.tz)
            self.default_args = dict(default_args or {})
            check_option_names(self.default_args, where="default_args")
            self.tags = tuple(tags)
            self.params: dict[str, object] = dict(params or {})
            self.description = description
        except DefinitionError as exc:
            raise exc.located(pipeline=id) from None
        self.file: str | None = None
        #: Asset definitions this pipeline's asset tasks may depend on (the whole graph for ``assets``).
        self.asset_definitions: dict[str, AssetDefinition] = {}
        self.tasks: dict[str, Operator] = {}
        self.upstream: dict[str, set[str]] = {}
        self._order: list[str] | None = None
        self._suffixes: dict[str, int] = {}  # last suffix handed out per base id: O(1) repeated calls
        for collector in _stack("collectors"):
            collector.append(self)  # type: ignore[attr-defined]

    # -- building ------------------------------------------------------------------
    def __enter__(self) -> Pipeline:
        _stack("active").append(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _stack("active").pop()
        if exc_type is None:
            self.validate()
        elif isinstance(exc, DefinitionError):
            exc.located(pipeline=self.id)  # an error from a task inside the block names its pipeline

    def add(self, op: Operator) -> Operator:
        """Add an operator created outside the ``with`` block (inside it, this happens by itself)."""
        if op.task_id in self.tasks:
            raise DefinitionError(f"duplicate task id '{op.task_id}'", pipeline=self.id, tasks=[op.task_id])
        op.options = resolve_options(op.explicit_options, self.default_args, where=f"task '{op.task_id}'")
        op.pipeline = self
        self.tasks[op.task_id] = op
        self.upstream[op.task_id] = set()
        self._order = None
        for dep in op.data_dependencies():
            if dep.pipeline is not self:
                owner = dep.pipeline.id if dep.pipeline else "no pipeline"
                raise DefinitionError(
                    f"task '{op.task_id}' uses the result of '{dep.task_id}', which belongs to {owner!r}",
                    pipeline=self.id,
                    tasks=[op.task_id, dep.task_id],
                )
            self.upstream[op.task_id].add(dep.task_id)
        return op

    def unique_task_id(self, base: str) -> str:
        """``base`` if free, else ``base__2``, ``base__3``..."""
        if base not in self.tasks:
            return base
        n = self._suffixes.get(base, 1) + 1
        while f"{base}__{n}" in self.tasks:
            n += 1
        self._suffixes[base] = n
        return f"{base}__{n}"

    def set_dependency(self, upstream_id: str, downstream_id: str) -> None:
        """Make ``downstream_id`` run after ``upstream_id`` (both must be tasks of this pipeline)."""
        missing = [t for t in (upstream_id, downstream_id) if t not in self.tasks]
        if missing:
            raise DefinitionError(
                f"unknown task(s) {', '.join(repr(m) for m in missing)} in dependency "
                f"'{upstream_id}' >> '{downstream_id}'",
                pipeline=self.id,
                tasks=missing,
            )
        if upstream_id == downstream_id:
            raise DefinitionError(
                f"cycle: task '{upstream_id}' depends on itself", pipeline=self.id, tasks=[upstream_id]
            )
        self.upstream[downstream_id].add(upstream_id)
        self._order = None

    # -- reading -------------------------------------------------------------------
    def validate(self) -> None:
        """Raise DefinitionError if the graph has a cycle or names an unknown task."""
        self._wire_assets()
        for task_id, ups in self.upstream.items():
            unknown = sorted(u for u in ups if u not in self.tasks)
            if unknown:
                raise DefinitionError(
                    f"task '{task_id}' depends on unknown task(s) {', '.join(unknown)}",
                    pipeline=self.id,
                    tasks=[task_id, *unknown],
                    file=self.file,
                )
        order = topological_order(list(self.tasks), self.upstream)
        if order and isinstance(order[0], list):
            cycle: list[str] = order[0]
            raise DefinitionError(f"cycle: {' -> '.join(cycle)}", pipeline=self.id, tasks=cycle[:-1], file=self.file)
        self._order = order  # type: ignore[assignment]

    def _wire_assets(self) -> None:
        """An asset task runs after each of its upstream assets that is a task of this pipeline."""
        from headwater.model.asset import AssetOperator

        for task_id, op in self.tasks.items():
            if not isinstance(op, AssetOperator):
                continue
            for dep in op.asset.deps:
                up = self.tasks.get(dep)
                if isinstance(up, AssetOperator) and up.asset.key == dep and dep not in self.upstream[task_id]:
                    self.upstream[task_id].add(dep)
                    self._order = None

    def subset(self, task_ids: Iterable[str]) -> Pipeline:
        """A copy holding only ``task_ids`` (same id, file and settings) and the dependencies between them."""
        keep = set(task_ids)
        missing = sorted(keep - set(self.tasks))
        if missing:
            raise DefinitionError(
                f"unknown task(s) {', '.join(missing)}", pipeline=self.id, tasks=missing, file=self.file
            )
        order = self.order
        clone = copy.copy(self)
        clone.tasks = {t: self.tasks[t] for t in order if t in keep}
        clone.upstream = {t: self.upstream[t] & keep for t in clone.tasks}
        clone._order = [t for t in order if t in keep]
        clone._suffixes = {}
        return clone

    @property
    def order(self) -> list[str]:
        """Task ids in dependency order."""
        if self._order is None:
            self.validate()
        assert self._order is not None
        return self._order

    def downstream(self) -> dict[str, list[str]]:
        """For each task, the tasks that depend on it (in dependency order)."""
        result: dict[str, list[str]] = {t: [] for t in self.tasks}
        for task_id in self.order:
            for up in self.upstream[task_id]:
                result[up].append(task_id)
        return result

    def __iter__(self) -> Iterator[Operator]:
        return (self.tasks[t] for t in self.order)

    def __len__(self) -> int:
        return len(self.tasks)

    def __repr__(self) -> str:
        return f"<Pipeline {self.id} ({len(self.tasks)} tasks)>"
