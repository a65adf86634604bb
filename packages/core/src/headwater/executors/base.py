"""The executor contract: submit a task, check health, cancel; results come back as events.

Nothing here assumes the task runs in this process. A task try is named by a
serializable :class:`TaskKey`; a :class:`TaskSubmission` carries everything a
worker needs (the pipeline's file, the upstream results, the window, params) as
JSON, so a worker on another machine loads the pipeline from its definition file
and runs :func:`headwater.executors.worker.execute_submission`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import ClassVar

from headwater.model.values import JSON as JSON  # re-exported: executors and plugins import it from here


@dataclass(frozen=True, slots=True)
class TaskKey:
    """One try of one task in one run. ``str(key)`` is ``run_id/task_id#try``."""

    run_id: str
    task_id: str
    try_number: int

    def __str__(self) -> str:
        return f"{self.run_id}/{self.task_id}#{self.try_number}"


@dataclass(frozen=True, slots=True)
class EncodedResult:
    """A task result as stored: inline JSON text, or a reference into a result store."""

    #: "json" (value holds JSON text), "ref" (value holds a result-store URI), or "list"/"dict"
    #: (value holds JSON of ``[encoding, value]`` pairs: a gathered result, see ``gather_results``)
    encoding: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"encoding": self.encoding, "value": self.value}


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskSubmission:
    """Everything a worker needs to run one try, serializable as JSON."""

    key: TaskKey
    pipeline_id: str
    pipeline_file: str | None
    logical_date: str
    interval_start: str
    interval_end: str
    params: Mapping[str, JSON] = field(default_factory=dict)
    inputs: Mapping[str, EncodedResult] = field(default_factory=dict)
    timeout: float | None = None
    log_path: str | None = None
    results_url: str | None = None
    partition: str | None = None
    #: Seconds between HEARTBEAT events while the try runs (None: the executor's own default).
    heartbeat_interval: float | None = None
    #: For one instance of a mapped task (``task.map(items)``): which item it runs.
    map_index: int | None = None
    #: The run's lane: "backfill" for backfill runs, else "default" (``ctx.lane``).
    lane: str = "default"
    #: The project's directory: relative paths in task arguments start there (``ctx.path()``).
    project_dir: str | None = None
    #: False when the run was started with ``--no-cache``: never reuse a cached result (still store one).
    use_cache: bool = True

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TaskSubmission:
        data = json.loads(text)
        data["key"] = TaskKey(**data["key"])
        data["inputs"] = {k: EncodedResult(**v) for k, v in data["inputs"].items()}
        return cls(**data)


class EventKind(StrEnum):
    STARTED = "started"
    #: The try is alive (sent every ``TaskSubmission.heartbeat_interval`` seconds while it runs).
    HEARTBEAT = "heartbeat"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    #: A sensor in ``reschedule`` mode found nothing: free its slot, try again at ``TaskEvent.reschedule_at``.
    RESCHEDULED = "rescheduled"


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskEvent:
    """What a worker reports about a try. ``at`` is seconds since the epoch (the worker's clock)."""

    key: TaskKey
    kind: EventKind
    at: float
    result: EncodedResult | None = None
    error: str | None = None
    error_type: str | None = None
    retryable: bool = True
    timed_out: bool = False
    reschedule_at: float | None = None
    #: What the task reported besides its result (JSON): ``{"materialization": {...}, "lineage":
    #: {"reads": [...], "writes": [...]}}``.
    metadata: Mapping[str, JSON] | None = None
    #: What the try did instead of running its code, e.g. ``"cache hit (key ab12…, 3m old)"``.
    note: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> TaskEvent:
        data = json.loads(text)
        data["key"] = TaskKey(**data["key"])
        data["kind"] = EventKind(data["kind"])
        if data.get("result"):
            data["result"] = EncodedResult(**data["result"])
        return cls(**data)


EventSink = Callable[[TaskEvent], None]


@dataclass(frozen=True, slots=True)
class ExecutorHealth:
    """An executor's answer to "can you run tasks?"."""

    healthy: bool
    detail: str = ""


class Executor(ABC):
    """Runs task tries somewhere and reports back through ``emit``.

    The engine calls :meth:`start` once with an event sink, then :meth:`submit`
    for each try (never blocking for long), :meth:`cancel` to stop a try (its
    timeout passed, or the run is shutting down), and :meth:`shutdown` at the
    end. Every submitted try must eventually produce a SUCCEEDED, FAILED or
    SKIPPED event, unless it was cancelled (then any late event is ignored).
    ``emit`` may be called from any thread.
    """

    #: The name the executor is registered under.
    name: ClassVar[str] = ""
    #: True if running tries send HEARTBEAT events (then a silent try is presumed dead after the
    #: heartbeat timeout). Executors whose tries live and die with the engine's process leave it False.
    heartbeats: ClassVar[bool] = False

    def __init__(self, *, parallelism: int | None = None, options: Mapping[str, object] | None = None) -> None:
        self.parallelism = parallelism
        self.options = dict(options or {})

    @abstractmethod
    def start(self, emit: EventSink) -> None:
        """Prepare to run tasks; ``emit`` receives every event from now on."""

    @abstractmethod
    def submit(self, submission: TaskSubmission) -> None:
        """Start running a try (returns at once; the outcome arrives as events)."""

    @abstractmethod
    def check_health(self) -> ExecutorHealth:
        """Whether the executor can still run tasks (workers alive, broker reachable)."""

    @abstractmethod
    def cancel(self, key: TaskKey) -> None:
        """Stop a try as far as the executor can; never blocks for long."""

    def shutdown(self, *, wait: bool = True) -> None:  # noqa: B027 - optional hook
        """Release resources. With ``wait``, let tries already running finish first."""

    @property
    def capacity(self) -> int | None:
        """How many tries may run at once (None: no limit of its own)."""
        return self.parallelism
