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

from headwater.executors.base import EventKind, EventSink, TaskEvent, TaskSubmission
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
            op = pipeline.tasks[key.task_id]
        except KeyError:
            raise LookupError(f"pipeline '{submission.pipeline_id}' has no task '{key.task_id}' any more") from None
        retry = op.options.retry
        upstream = {
            task_id: decode_result(encoded, store_url=submission.results_url)
            for task_id, encoded in submission.inputs.items()
        }
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
            cancelled=cancel_event,
            log_path=submission.log_path,
        )
        value = op.execute(ctx)
        if cancel_event.is_set():
            raise TaskCancelled(f"task {key.task_id} was stopped")
        result = encode_result(value, key=f"{key.run_id}/{key.task_id}", store_url=submission.results_url)
        event = TaskEvent(key=key, kind=EventKind.SUCCEEDED, at=now(), result=result)
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
        retryable = retry is not None and retry.is_retryable(exc)
        logger.error("task failed: %s: %s\n%s", type(exc).__name__, exc, traceback.format_exc())
        message = mask(f"{type(exc).__name__}: {exc}")[:ERROR_LIMIT]
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
