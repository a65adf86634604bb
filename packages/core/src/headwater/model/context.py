"""What a running task receives as ``ctx``: its run, its window, params, upstream results, a logger."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headwater.config.connections import Connection


class Skip(Exception):  # noqa: N818 - reads as `raise Skip("no new files")`
    """Raise inside a task to end it as ``skipped`` (its downstream tasks follow their trigger rules)."""


class Reschedule(Exception):  # noqa: N818 - a request, not an error
    """Raised by a sensor in reschedule mode: nothing yet, poke again in ``delay`` seconds (no slot held)."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"poke again in {delay:g}s")
        self.delay = delay


class TaskCancelled(Exception):  # noqa: N818
    """Raised inside a task that was stopped (timeout or shutdown) when it next waits via ``ctx``."""


class TaskTimedOut(TaskCancelled, TimeoutError):  # noqa: N818
    """A TaskCancelled raised because the try ran past its timeout (``retry_on=TimeoutError`` retries it)."""


@dataclass(frozen=True, slots=True)
class DataInterval:
    """The window of data a run covers: ``[start, end)``."""

    start: datetime
    end: datetime


@dataclass(slots=True)
class TaskReports:
    """What a running task reported besides its result: datasets read and written, metadata."""

    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    metadata: dict[str, object] = field(default_factory=dict)


def _datasets(value: Iterable[str] | str, what: str) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item:
            raise TypeError(f"report_lineage({what}=...): datasets are non-empty strings, got {item!r}")
    return items


@dataclass(frozen=True, kw_only=True)
class Context:
    """The task's view of its run. Passed as the first argument to task functions that take ``ctx``."""

    run_id: str
    pipeline_id: str
    task_id: str
    try_number: int
    logical_date: datetime
    data_interval: DataInterval
    params: Mapping[str, object]
    upstream: Mapping[str, object]
    log: logging.Logger | logging.LoggerAdapter[logging.Logger]
    partition: str | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    log_path: str | None = None
    #: Which item an instance of a mapped task runs (``fetch[3]``: 3); None for other tasks.
    map_index: int | None = None
    #: "backfill" for a run of a backfill (operators may use separate compute for it), else "default"
    lane: str = "default"
    #: What the task reported with ``report_lineage`` and ``add_metadata`` (sent with its success).
    reports: TaskReports = field(default_factory=TaskReports)
    #: The project's directory (where headwater.toml is); relative paths in task arguments start here.
    project_dir: str | None = None

    def path(self, value: str | os.PathLike[str]) -> Path:
        """``value`` as a path: absolute as given, relative from the project directory (``ctx.project_dir``).

        Every shipped operator resolves its file arguments this way, whatever the working directory.
        """
        path = Path(value).expanduser()
        if path.is_absolute() or self.project_dir is None:
            return path.absolute()
        return Path(self.project_dir) / path

    def report_lineage(self, *, reads: Iterable[str] | str = (), writes: Iterable[str] | str = ()) -> None:
        """Record datasets (tables, keys, URLs) this task reads and writes; stored when it succeeds.

        >>> ctx.report_lineage(reads=["raw.orders"], writes=["staging.orders"])
        """
        self.reports.reads.extend(d for d in _datasets(reads, "reads") if d not in self.reports.reads)
        self.reports.writes.extend(d for d in _datasets(writes, "writes") if d not in self.reports.writes)

    def add_metadata(self, **values: object) -> None:
        """Attach metadata (JSON values: row counts, scores) to this task's materialization."""
        self.reports.metadata.update(values)

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; raise TaskCancelled at once if the task is stopped meanwhile."""
        if self.cancelled.wait(seconds):
            raise TaskCancelled(f"task {self.task_id} was stopped")

    def check_cancelled(self) -> None:
        """Raise TaskCancelled if the task has been stopped (call it in long loops)."""
        if self.cancelled.is_set():
            raise TaskCancelled(f"task {self.task_id} was stopped")

    def connection(self, conn_id: str) -> Connection:
        """The connection ``conn_id`` from ``HEADWATER_CONN_<ID>`` or the configuration."""
        from headwater.config.connections import get_connection

        return get_connection(conn_id)

    def client(self, conn_id: str) -> object:
        """A client for connection ``conn_id``, built by the plugin registered for its URI scheme.

        ``ctx.client("warehouse")`` with ``HEADWATER_CONN_WAREHOUSE=postgres://...`` asks the
        plugin that registered the ``postgres`` connection type to connect.
        """
        from headwater.config.connections import connection_client, get_connection

        return connection_client(get_connection(conn_id))
