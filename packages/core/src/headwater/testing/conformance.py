"""Conformance suites: the contract every executor plugin is held to, as inherited pytest tests.

An executor package's tests subclass :class:`ExecutorConformance` and provide an
``executor`` fixture; every ``test_*`` method below then runs against it::

    import pytest
    from headwater.plugin import Executor
    from headwater.testing.conformance import ExecutorConformance

    class TestMyExecutor(ExecutorConformance):
        @pytest.fixture
        def executor(self) -> Executor:
            return MyExecutor(parallelism=4)

The suite drives the executor directly (``start``/``submit``/``cancel``/
``check_health``/``shutdown``) with real :class:`TaskSubmission` objects whose
tasks live in a pipeline file the worker loads, exactly as a remote worker
would. Events are collected from ``emit``; every wait is bounded by
``event_timeout`` (a guard against hangs, not a timing assertion).

Class attributes a subclass may override:

- ``supports_cancel`` (default True): set it to False for an executor that runs
  each try synchronously inside ``submit`` (so there is never a running try to
  cancel); the cancellation tests are then skipped.
- ``event_timeout`` (default 30 s): the longest any single wait may take.
"""

from __future__ import annotations

import json
import queue
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from headwater.executors.base import (
    JSON,
    EncodedResult,
    EventKind,
    Executor,
    TaskEvent,
    TaskKey,
    TaskSubmission,
)

__all__ = ["CONFORMANCE_PIPELINE", "ExecutorConformance", "ExecutorHarness", "pipeline_file"]

FINAL_KINDS = frozenset({EventKind.SUCCEEDED, EventKind.FAILED, EventKind.SKIPPED})

#: The pipeline ``conf`` the suite's submissions name (written to a file by :func:`pipeline_file`).
CONFORMANCE_PIPELINE = """
from headwater import Pipeline, Skip, TaskCancelled, task


@task
def hello():
    return {"greeting": "hello", "n": 1}


@task
def pair():
    return [1, 2]


@task
def combine(left, right):
    return {"left": left, "right": right}


@task
def square(ctx):
    return ctx.params["n"] ** 2


@task
def describe(ctx):
    return {
        "run_id": ctx.run_id,
        "task_id": ctx.task_id,
        "try_number": ctx.try_number,
        "params": dict(ctx.params),
        "logical_date": ctx.logical_date.isoformat(),
        "interval": [ctx.data_interval.start.isoformat(), ctx.data_interval.end.isoformat()],
    }


@task(retries=2, retry_on=ValueError)
def retryable_failure():
    raise ValueError("upstream API said no")


@task(retries=2, retry_on=ValueError)
def fatal_failure():
    raise KeyError("missing column")


@task
def skipper():
    raise Skip("nothing new today")


@task
def stubborn(ctx):
    # Ignores being stopped: a cancelled try must still never report success.
    try:
        ctx.wait(60)
    except TaskCancelled:
        pass
    return "finished anyway"


with Pipeline("conf") as p:
    combine(hello(), pair())
    square()
    describe()
    retryable_failure()
    fatal_failure()
    skipper()
    stubborn()
"""


def pipeline_file(tmp_path: Path, source: str, name: str = "conformance_pipeline.py") -> Path:
    """Write pipeline ``source`` (dedented) to ``tmp_path / name`` and return the file's path.

    Use it for submissions whose ``pipeline_file`` a worker loads, e.g. in an
    executor's own tests beyond the conformance suite.
    """
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


class ExecutorHarness:
    """Submits tries of one pipeline file to a started executor and collects its events."""

    def __init__(self, executor: Executor, pipeline: Path, *, workdir: Path, timeout: float = 30.0) -> None:
        self.executor = executor
        self.pipeline = pipeline
        self.pipeline_id = "conf"
        self.workdir = workdir
        self.timeout = timeout
        self.run_id = f"conf-{uuid.uuid4().hex[:12]}"
        self.queue: queue.SimpleQueue[TaskEvent] = queue.SimpleQueue()
        self.seen: dict[TaskKey, list[TaskEvent]] = {}
        self.shut_down = False

    def emit(self, event: TaskEvent) -> None:
        """The event sink passed to ``executor.start`` (safe from any thread)."""
        self.queue.put(event)

    def submission(
        self,
        task_id: str,
        *,
        run_id: str | None = None,
        try_number: int = 1,
        params: Mapping[str, JSON] | None = None,
        inputs: Mapping[str, EncodedResult] | None = None,
        timeout: float | None = None,
    ) -> TaskSubmission:
        key = TaskKey(run_id or self.run_id, task_id, try_number)
        return TaskSubmission(
            key=key,
            pipeline_id=self.pipeline_id,
            pipeline_file=str(self.pipeline),
            logical_date="2026-03-01T00:00:00+00:00",
            interval_start="2026-03-01T00:00:00+00:00",
            interval_end="2026-03-02T00:00:00+00:00",
            params=dict(params or {}),
            inputs=dict(inputs or {}),
            timeout=timeout,
            log_path=str(self.workdir / "logs" / key.run_id / f"{task_id}.{try_number}.log"),
            results_url=str(self.workdir / "results"),
        )

    def submit(
        self,
        task_id: str,
        *,
        run_id: str | None = None,
        try_number: int = 1,
        params: Mapping[str, JSON] | None = None,
        inputs: Mapping[str, EncodedResult] | None = None,
    ) -> TaskKey:
        """Submit a try of ``task_id`` and return its key."""
        submission = self.submission(task_id, run_id=run_id, try_number=try_number, params=params, inputs=inputs)
        self.executor.submit(submission)
        return submission.key

    def next_event(self, deadline: float) -> TaskEvent | None:
        """The next event (recorded in :attr:`seen`), or None once ``time.monotonic()`` passes ``deadline``."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            event = self.queue.get(timeout=remaining)
        except queue.Empty:
            return None
        self.seen.setdefault(event.key, []).append(event)
        return event

    def wait_for(self, key: TaskKey, kinds: frozenset[EventKind] = FINAL_KINDS) -> TaskEvent:
        """The first event for ``key`` whose kind is in ``kinds`` (already seen or arriving in time)."""
        for seen in self.seen.get(key, []):
            if seen.kind in kinds:
                return seen
        deadline = time.monotonic() + self.timeout
        while True:
            event = self.next_event(deadline)
            if event is None:
                got = [e.kind.value for e in self.seen.get(key, [])]
                wanted = sorted(k.value for k in kinds)
                raise AssertionError(f"no {'/'.join(wanted)} event for {key} within {self.timeout:g}s (got {got})")
            if event.key == key and event.kind in kinds:
                return event

    def final(self, key: TaskKey) -> TaskEvent:
        """The try's SUCCEEDED, FAILED or SKIPPED event."""
        return self.wait_for(key, FINAL_KINDS)

    def drain(self) -> None:
        """Record every event already emitted, without waiting for more."""
        while True:
            try:
                event = self.queue.get_nowait()
            except queue.Empty:
                return
            self.seen.setdefault(event.key, []).append(event)

    def kinds(self, key: TaskKey) -> list[EventKind]:
        """The kinds of the events seen so far for ``key``, in arrival order."""
        return [e.kind for e in self.seen.get(key, [])]


def _value(event: TaskEvent) -> object:
    assert event.result is not None, f"{event.key}: a SUCCEEDED event must carry a result"
    assert event.result.encoding == "json", f"{event.key}: a small JSON result must be inline, got {event.result}"
    return json.loads(event.result.value)


class ExecutorConformance:
    """The executor contract (:mod:`headwater.executors.base`) as tests; subclass and provide ``executor``."""

    supports_cancel: ClassVar[bool] = True
    event_timeout: ClassVar[float] = 30.0

    @pytest.fixture
    def executor(self) -> Executor:
        """Override in the subclass: a fresh, not yet started executor."""
        raise NotImplementedError(f"{type(self).__name__} must define an `executor` fixture")

    @pytest.fixture
    def harness(self, executor: Executor, tmp_path: Path) -> Iterator[ExecutorHarness]:
        """The executor, started with an event sink, and a pipeline file for it to run."""
        harness = ExecutorHarness(
            executor, pipeline_file(tmp_path, CONFORMANCE_PIPELINE), workdir=tmp_path, timeout=self.event_timeout
        )
        executor.start(harness.emit)
        yield harness
        if not harness.shut_down:
            executor.shutdown(wait=False)

    def _require_cancel(self) -> None:
        if not self.supports_cancel:
            pytest.skip(f"{type(self).__name__} runs each try synchronously: nothing to cancel")

    # -- outcomes ----------------------------------------------------------------------
    def test_success_emits_started_then_succeeded_with_the_result(self, harness: ExecutorHarness) -> None:
        key = harness.submit("hello")
        event = harness.final(key)
        harness.drain()
        assert harness.kinds(key) == [EventKind.STARTED, EventKind.SUCCEEDED], harness.seen.get(key)
        assert event.key == key
        assert _value(event) == {"greeting": "hello", "n": 1}
        assert event.error is None

    @pytest.mark.parametrize(
        ("task_id", "error_type", "retryable", "message"),
        [
            ("retryable_failure", "ValueError", True, "upstream API said no"),
            ("fatal_failure", "KeyError", False, "missing column"),
        ],
    )
    def test_raising_task_fails_with_error_and_retryable_from_retry_on(
        self, harness: ExecutorHarness, task_id: str, error_type: str, retryable: bool, message: str
    ) -> None:
        key = harness.submit(task_id)
        event = harness.final(key)
        assert event.kind == EventKind.FAILED, event
        assert event.error_type == error_type
        assert event.error is not None and message in event.error, event.error
        assert event.retryable is retryable, f"retry_on=ValueError and {error_type} -> retryable={retryable}"
        assert event.result is None
        assert not event.timed_out

    def test_skip_emits_skipped_with_the_reason(self, harness: ExecutorHarness) -> None:
        key = harness.submit("skipper")
        event = harness.final(key)
        assert event.kind == EventKind.SKIPPED, event
        assert "nothing new today" in (event.error or "")

    def test_a_task_the_file_does_not_define_fails_without_retry(self, harness: ExecutorHarness) -> None:
        key = harness.submit("no_such_task")
        event = harness.final(key)
        assert event.kind == EventKind.FAILED, event
        assert "no_such_task" in (event.error or "")
        assert event.retryable is False

    # -- what reaches the task -----------------------------------------------------------
    def test_upstream_inputs_reach_the_task_as_arguments(self, harness: ExecutorHarness) -> None:
        inputs = {
            "hello": EncodedResult("json", '{"greeting": "hi", "n": 7}'),
            "pair": EncodedResult("json", "[3, 4]"),
        }
        key = harness.submit("combine", inputs=inputs)
        event = harness.final(key)
        assert event.kind == EventKind.SUCCEEDED, event
        assert _value(event) == {"left": {"greeting": "hi", "n": 7}, "right": [3, 4]}

    def test_context_carries_run_try_params_and_window(self, harness: ExecutorHarness) -> None:
        key = harness.submit("describe", try_number=3, params={"day": "2026-03-01", "limit": 5})
        event = harness.final(key)
        assert event.kind == EventKind.SUCCEEDED, event
        assert _value(event) == {
            "run_id": harness.run_id,
            "task_id": "describe",
            "try_number": 3,
            "params": {"day": "2026-03-01", "limit": 5},
            "logical_date": "2026-03-01T00:00:00+00:00",
            "interval": ["2026-03-01T00:00:00+00:00", "2026-03-02T00:00:00+00:00"],
        }

    def test_many_submissions_each_complete_exactly_once(self, harness: ExecutorHarness) -> None:
        keys = [harness.submit("square", run_id=f"{harness.run_id}-{n}", params={"n": n}) for n in range(50)]
        finals = [harness.final(key) for key in keys]
        harness.drain()
        for n, (key, event) in enumerate(zip(keys, finals, strict=True)):
            assert event.kind == EventKind.SUCCEEDED, event
            assert _value(event) == n * n
            assert harness.kinds(key) == [EventKind.STARTED, EventKind.SUCCEEDED], harness.seen[key]
        assert set(harness.seen) == set(keys), "events for keys that were never submitted"

    # -- cancel, health, shutdown --------------------------------------------------------
    def test_cancelled_tries_never_succeed_and_new_tries_still_run(
        self, harness: ExecutorHarness, executor: Executor
    ) -> None:
        self._require_cancel()
        # Fill the executor's capacity (bounded for unlimited executors), plus one try left queued.
        running = min(executor.capacity or 2, 8)
        keys = [harness.submit("stubborn", run_id=f"{harness.run_id}-{n}") for n in range(running + 1)]
        started: set[TaskKey] = set()
        deadline = time.monotonic() + harness.timeout
        while len(started) < running:
            event = harness.next_event(deadline)
            assert event is not None, f"only {len(started)} of {running} tries started"
            if event.kind == EventKind.STARTED:
                started.add(event.key)
        for key in keys:
            executor.cancel(key)
        # Cancelled tries must give their capacity back: a new try runs to completion.
        after = harness.submit("hello", run_id=f"{harness.run_id}-after")
        event = harness.final(after)
        assert event.kind == EventKind.SUCCEEDED, event
        assert executor.check_health().healthy
        harness.drain()
        for key in keys:
            assert EventKind.SUCCEEDED not in harness.kinds(key), f"cancelled try {key} reported success"

    def test_cancel_of_an_unknown_or_finished_try_is_harmless(
        self, harness: ExecutorHarness, executor: Executor
    ) -> None:
        key = harness.submit("hello")
        assert harness.final(key).kind == EventKind.SUCCEEDED
        executor.cancel(key)
        executor.cancel(TaskKey("no-such-run", "hello", 1))
        again = harness.submit("hello", try_number=2)
        assert harness.final(again).kind == EventKind.SUCCEEDED

    def test_healthy_after_start(self, harness: ExecutorHarness, executor: Executor) -> None:
        health = executor.check_health()
        assert health.healthy, health.detail
        key = harness.submit("hello")
        harness.final(key)
        assert executor.check_health().healthy

    def test_shutdown_returns_after_the_tries_finish(self, harness: ExecutorHarness, executor: Executor) -> None:
        key = harness.submit("hello")
        assert harness.final(key).kind == EventKind.SUCCEEDED
        done = threading.Event()

        def stop() -> None:
            executor.shutdown(wait=True)
            done.set()

        threading.Thread(target=stop, name="conformance-shutdown", daemon=True).start()
        assert done.wait(harness.timeout), f"shutdown(wait=True) did not return within {harness.timeout:g}s"
        harness.shut_down = True


# The operator and notifier suites live in their own modules; importable from here too.
from headwater.testing.notifiers import NotifierConformance as NotifierConformance  # noqa: E402
from headwater.testing.operators import OperatorConformance as OperatorConformance  # noqa: E402
