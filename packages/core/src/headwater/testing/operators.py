"""The operator conformance suite: the contract every operator plugin is held to, as inherited pytest tests.

An operator package's tests subclass :class:`OperatorConformance`, name the class and its registered
name, and provide the keyword arguments of a working operator (against the package's stand-in)::

    class TestPostgresOperator(OperatorConformance):
        operator_class = PostgresOperator
        operator_name = "postgres.query"

        @pytest.fixture
        def operator_kwargs(self, warehouse_conn: str) -> dict[str, object]:
            return {"conn": warehouse_conn, "sql": "select 1"}

The suite checks what users and the engine rely on: the operator is found by its registered name
(YAML pipelines), takes the task id first and every task option, does no I/O when constructed
(pipelines are parsed far more often than run), describes itself in one line, runs in a pipeline,
and, when it takes a ``conn``, fails a run whose connection is not configured with one clear,
unretried error naming it.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import pytest

if TYPE_CHECKING:
    from headwater.model.operator import Operator

#: A connection id no test environment defines.
MISSING_CONN = "hw_conformance_missing"


class OperatorConformance:
    """Subclass it, set ``operator_class`` and ``operator_name``, and provide ``operator_kwargs``."""

    operator_class: ClassVar[type[Operator]]
    #: The name the plugin registers the operator under (``postgres.query``).
    operator_name: ClassVar[str]

    @pytest.fixture
    def operator_kwargs(self) -> dict[str, object]:
        """Override: constructor keyword arguments (besides the task id) of an operator that works here."""
        raise NotImplementedError(f"{type(self).__name__} must define an `operator_kwargs` fixture")

    def _build(self, task_id: str, kwargs: dict[str, object], **options: object) -> Operator:
        factory: Callable[..., Operator] = self.operator_class  # plugin operators take their own keywords
        return factory(task_id, **kwargs, **options)

    def test_is_registered_under_its_name(self) -> None:
        from headwater.plugin.registry import load_operator

        assert load_operator(self.operator_name) is self.operator_class

    def test_takes_the_task_id_first_and_every_task_option(self, operator_kwargs: dict[str, object]) -> None:
        op = self._build("conformance_task", operator_kwargs, retries=2, timeout="5m", priority=3)
        assert op.task_id == "conformance_task"
        assert (op.options.retry.retries, op.options.timeout, op.options.priority) == (2, 300.0, 3)

    def test_construction_does_no_io(self, operator_kwargs: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("an operator's constructor opened a connection or started a process")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket.socket, "connect_ex", refuse)
        monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
        self._build("conformance_task", operator_kwargs)
        if "conn" in operator_kwargs:  # a connection is looked up when the task runs, not when it is defined
            self._build("conformance_task", {**operator_kwargs, "conn": MISSING_CONN})

    def test_describes_itself_in_one_line(self, operator_kwargs: dict[str, object]) -> None:
        text = self._build("conformance_task", operator_kwargs).describe()
        assert isinstance(text, str) and text.strip() and "\n" not in text

    def test_runs_in_a_pipeline(self, operator_kwargs: dict[str, object]) -> None:
        from headwater.model.pipeline import Pipeline
        from headwater.testing import run_pipeline

        with Pipeline(f"conformance_{self.operator_name.replace('.', '_')}") as pipeline:
            self._build("conformance_task", operator_kwargs)
        result = run_pipeline(pipeline)
        task = result.summary.task("conformance_task")
        assert result.ok, f"{self.operator_name} failed: {task.error}"

    def test_an_unconfigured_connection_fails_once_naming_it(self, operator_kwargs: dict[str, object]) -> None:
        if "conn" not in operator_kwargs:
            pytest.skip(f"{self.operator_name} takes no conn")
        from headwater.model.pipeline import Pipeline
        from headwater.testing import run_pipeline

        with Pipeline(f"conformance_{self.operator_name.replace('.', '_')}_missing") as pipeline:
            self._build("conformance_task", {**operator_kwargs, "conn": MISSING_CONN}, retries=2, retry_delay=0)
        result = run_pipeline(pipeline)
        task = result.summary.task("conformance_task")
        assert task.state == "failed"
        assert task.error is not None and MISSING_CONN in task.error, task.error
        assert "Traceback" not in task.error
        assert len(result.tries["conformance_task"]) == 1, "a missing connection must not be retried"
