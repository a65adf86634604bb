"""Run pipelines in-process for unit tests; conformance suites for plugins.

>>> from headwater.testing import run_pipeline
>>> result = run_pipeline(my_pipeline, params={"day": "2026-03-01"})
>>> assert result.ok and result.results["transform"] == 6
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headwater.config.settings import PoolSetting

from headwater.engine.clock import FakeClock
from headwater.engine.listener import RunListener, RunSummary, TaskSummary
from headwater.executors.base import Executor
from headwater.model.pipeline import Pipeline
from headwater.store.records import TryRecord

#: Names the metadata database :func:`run_pipeline` uses when ``db`` is not given.
TEST_DB_ENV = "HEADWATER_TEST_DB"

__all__ = ["FakeClock", "RunSummary", "TaskSummary", "TestRun", "run_pipeline"]


@dataclass(frozen=True)
class TestRun:
    """The outcome of :func:`run_pipeline`: the summary, every task's result and every try."""

    __test__ = False  # not a pytest test class

    summary: RunSummary
    results: Mapping[str, object] = field(default_factory=dict)
    tries: Mapping[str, list[TryRecord]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.summary.ok

    @property
    def state(self) -> str:
        return self.summary.state

    def task_state(self, task_id: str) -> str:
        return self.summary.task(task_id).state


def run_pipeline(
    pipeline: Pipeline,
    *,
    params: Mapping[str, object] | None = None,
    logical_date: datetime | None = None,
    executor: Executor | str = "inline",
    clock: object | None = None,
    pools: Mapping[str, int | PoolSetting] | None = None,
    concurrency: int = 16,
    db: str | None = None,
    listener: RunListener | None = None,
    workdir: Path | None = None,
    project_dir: Path | None = None,
) -> TestRun:
    """Run ``pipeline`` once in this process and return its summary, results and tries.

    By default tasks run inline, state lives in an in-memory SQLite database (or in
    the database ``HEADWATER_TEST_DB`` names, so a suite can run against PostgreSQL), and
    logs and large results go to a temporary directory: nothing is persisted.
    Pass ``db`` to use a real database, ``clock`` (a FakeClock) to control time.
    Tasks' relative paths (``ctx.path``) start at ``project_dir``: by default ``workdir``, else the
    project (``headwater.toml``) the pipeline's file belongs to, else the working directory.
    """
    from headwater.config.settings import Project, Settings
    from headwater.engine.launch import run_pipeline as launch
    from headwater.executors.base import EncodedResult
    from headwater.loader.files import remember
    from headwater.results import decode_result
    from headwater.store.database import connect
    from headwater.store.repository import Store

    db = db or os.environ.get(TEST_DB_ENV) or "sqlite://"
    if pipeline.file is None:
        remember(pipeline)
    # A try abandoned after its timeout may still be writing its log while we clean up.
    with tempfile.TemporaryDirectory(prefix="headwater-test-", ignore_cleanup_errors=True) as tmp:
        root = workdir or Path(tmp)
        settings = Settings(db=db, pools=dict(pools or {}), concurrency=concurrency)
        project = Project(root, settings, None)
        store = Store(connect(db, base_dir=root))
        try:
            summary = launch(
                project,
                pipeline,
                store=store,
                executor=executor,
                params=params,
                logical_date=logical_date,
                listener=listener,
                clock=clock,  # type: ignore[arg-type]
                project_dir=project_dir or workdir or _project_dir(pipeline),
            )
            results_url = project.results_url
            results = {
                task_id: decode_result(EncodedResult(enc, value), store_url=results_url)
                for task_id, (enc, value) in store.results(summary.run_id).items()
            }
            tries: dict[str, list[TryRecord]] = {}
            for attempt in store.tries(summary.run_id):
                tries.setdefault(attempt.task_id, []).append(attempt)
        finally:
            store.close()
    return TestRun(summary=summary, results=results, tries=tries)


def _project_dir(pipeline: Pipeline) -> Path:
    """Where a test run's relative paths start: the project the pipeline's file belongs to, else the cwd."""
    from headwater.config.root import project_root_of

    return project_root_of(pipeline.file)
