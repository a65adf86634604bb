"""Run one task try from a TaskSubmission: the code every executor's worker calls.

The worker loads the pipeline from its definition file (cached per process),
decodes upstream results, builds ``ctx``, calls the operator, and reports the
outcome as events. It never touches the metadata database.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from headwater.executors.base import JSON, EventKind, EventSink, TaskEvent, TaskSubmission
from headwater.model.context import Context, DataInterval, Reschedule, Skip, TaskCancelled
from headwater.secrets import MaskingFilter, mask

_FORMAT = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
_FILTER = MaskingFilter()
ERROR_LIMIT = 2000


class _TryLogHandler(logging.FileHandler):
    """A FileHandler that reports a log file it cannot open (directory gone, disk full) instead of raising.

    The stock handler raises from ``emit`` when opening fails, which would stop
    the worker before it reports the try's outcome.
    """

    def _open(self) -> io.TextIOWrapper:
        # Create the folder only when the try logs its first line: most no-op tries never do.
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)
        except OSError:
            self.handleError(record)


def task_logger(name: str, log_path: str | None) -> logging.Logger:
    """A logger for one try, writing to ``log_path`` (created on the first line), secrets masked.

    It is not registered with ``logging.getLogger``, so thousands of tries leak nothing.
    """
    logger = logging.Logger(name, logging.INFO)
    logger.propagate = False
    if log_path:
        handler = _TryLogHandler(log_path, delay=True, encoding="utf-8")
        handler.setFormatter(_FORMAT)
        handler.addFilter(_FILTER)
        logger.addHandler(handler)
    return logger


def close_logger(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)


def node_of(task_id: str) -> str:
    """The mapped node an instance id belongs to (``fetch[3]`` -> ``fetch``)."""
    from headwater.model.mapped import parse_instance_id

    parsed = parse_instance_id(task_id)
    return parsed[0] if parsed else task_id


def unwrap_reports(value: object, ctx: Context) -> tuple[object, dict[str, JSON] | None]:
    """The task's result without a Materialization wrapper, and what it reported as event metadata."""
    from headwater.model.asset import Materialization, json_safe

    reports = ctx.reports
    metadata: dict[str, object] = dict(reports.metadata)
    if isinstance(value, Materialization):
        metadata.update(value.metadata)
        value = value.value
    out: dict[str, JSON] = {}
    if metadata:
        out["materialization"] = json_safe(metadata)
    if reports.reads or reports.writes:
        out["lineage"] = {"reads": list(reports.reads), "writes": list(reports.writes)}
    return value, out or None


def execute_submission(
    submission: TaskSubmission,
    emit: EventSink,
    *,
    cancelled: threading.Event | None = None,
    now: Callable[[], float] = time.time,
) -> TaskEvent:
    """Run the try, emitting STARTED and then exactly one final event (also returned)."""
    from headwater.loader.files import load_pipeline
    from headwater.results import decode_result, encode_result

    key = submission.key
    emit(TaskEvent(key=key, kind=EventKind.STARTED, at=now()))
    logger = task_logger(f"headwater.task.{key.task_id}", submission.log_path)
    cancel_event = cancelled or threading.Event()
    retry = None
    try:
        try:
            pipeline = load_pipeline(submission.pipeline_file, submission.pipeline_id)
            op = pipeline.tasks[key.task_id if submission.map_index is None else node_of(key.task_id)]
        except KeyError:
            raise LookupError(f"pipeline '{submission.pipeline_id}' has no task '{key.task_id}' any more") from None
        retry = op.options.retry
        upstream = {
            task_id: decode_result(encoded, store_url=submission.results_url)
            for task_id, encoded in submission.inputs.items()
        }
        if submission.map_index is not None:  # an instance of a mapped task: its item of each mapped argument
            from headwater.model.mapped import mapped_instance

            op = mapped_instance(pipeline, key.task_id, submission.map_index, upstream)
        ctx = Context(
            run_id=key.run_id,
            pipeline_id=submission.pipeline_id,
            task_id=key.task_id,
            try_number=key.try_number,
            logical_date=datetime.fromisoformat(submission.logical_date),
            data_interval=DataInterval(
                datetime.fromisoformat(submission.interval_start), datetime.fromisoformat(submission.interval_end)
            ),
            params=submission.params,
            upstream=upstream,
            log=logger,
            partition=submission.partition,
            map_index=submission.map_index,
            lane=submission.lane,
            project_dir=submission.project_dir,
            cancelled=cancel_event,
            log_path=submission.log_path,
        )
        cache = None
        if op.options.cache:
            from headwater.cache import TaskCache

            cache = TaskCache(op, ctx, submission, now=now, log=logger)
        hit = cache.hit() if cache is not None else None  # a cached result: the task's code does not run
        if hit is not None:
            event = hit
        else:
            value = op.execute(ctx)
            if cancel_event.is_set():
                raise TaskCancelled(f"task {key.task_id} was stopped")
            value, reported = unwrap_reports(value, ctx)  # Materialization(value, metadata=...) and ctx reports
            result = encode_result(value, key=f"{key.run_id}/{key.task_id}", store_url=submission.results_url)
            event = TaskEvent(key=key, kind=EventKind.SUCCEEDED, at=now(), result=result, metadata=reported)
            if cache is not None:
                cache.store(event)
    except Reschedule as exc:
        logger.info("nothing yet: %s", exc)
        at = now()
        event = TaskEvent(key=key, kind=EventKind.RESCHEDULED, at=at, reschedule_at=at + exc.delay)
    except Skip as exc:
        logger.info("skipped: %s", exc)
        event = TaskEvent(key=key, kind=EventKind.SKIPPED, at=now(), error=mask(str(exc)) or None)
    except BaseException as exc:  # the task's failure is data, not our crash
        if isinstance(exc, KeyboardInterrupt):
            raise
        # A pipeline that cannot be loaded will not load on a retry either.
        # Neither will a cache_key function that raised (it is called with the same inputs), a missing
        # connection, or an error the task declared permanent.
        from headwater.cache import CacheKeyError
        from headwater.errors import ConfigError, PermanentError

        own = isinstance(exc, CacheKeyError | PermanentError)
        retryable = retry is not None and retry.is_retryable(exc) and not own and not isinstance(exc, ConfigError)
        logger.error("task failed: %s: %s\n%s", type(exc).__name__, exc, traceback.format_exc())
        message = mask(str(exc) if own else f"{type(exc).__name__}: {exc}")[:ERROR_LIMIT]
        event = TaskEvent(
            key=key,
            kind=EventKind.FAILED,
            at=now(),
            error=message,
            error_type=type(exc).__name__,
            retryable=retryable,
            timed_out=isinstance(exc, TaskCancelled),
        )
    finally:
        close_logger(logger)
    emit(event)
    return event
