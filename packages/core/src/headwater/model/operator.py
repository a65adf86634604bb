"""The base of every task: an id, options, and ``execute(ctx)``. Constructors do no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, ClassVar

from headwater.errors import DefinitionError
from headwater.model.options import DEFAULT_OPTIONS, TaskOptions, resolve_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from headwater.model.context import Context
    from headwater.model.options import TaskOptionArgs
    from headwater.model.pipeline import Pipeline

_TASK_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}$")


def check_task_id(task_id: object) -> str:
    if not isinstance(task_id, str) or not _TASK_ID.match(task_id):
        raise DefinitionError(
            f"invalid task id {task_id!r}: use letters, digits, '_', '.', '-' (at most 200 characters)",
            tasks=[str(task_id)],
        )
    return task_id


class Operator:
    """A task in a pipeline. Subclasses implement :meth:`execute`; constructors only store arguments.

    Created inside a ``with Pipeline(...)`` block, an operator adds itself to that
    pipeline. ``a >> b`` (and ``a >> [b, c]``, ``[a, b] >> c``) makes b run after a.
    """

    #: The name the operator is registered under by its plugin (``bash``, ``postgres.query``).
    operator_name: ClassVar[str] = ""
    #: Options (``retries``, ``timeout``...) the operator was given explicitly.
    explicit_options: dict[str, object]

    def __init__(self, task_id: str, **options: Unpack[TaskOptionArgs]) -> None:
        self.task_id = check_task_id(task_id)
        self.explicit_options = dict(options)
        self.options: TaskOptions = DEFAULT_OPTIONS
        self.pipeline: Pipeline | None = None
        from headwater.model.pipeline import current_pipeline

        pipeline = current_pipeline()
        if pipeline is not None:
            pipeline.add(self)
        else:
            self.options = resolve_options(options, where=f"task '{task_id}'")

    # -- what subclasses provide -------------------------------------------------
    def execute(self, ctx: Context) -> object:
        """Do the work; the return value is the task's result, handed to downstream tasks."""
        raise NotImplementedError(f"{type(self).__name__} does not implement execute()")

    def data_dependencies(self) -> Iterable[Operator]:
        """Upstream tasks whose results this task consumes (arguments given as task results)."""
        return ()

    def describe(self) -> str:
        """A one-line description for ``headwater show``."""
        return type(self).__name__

    # -- dependencies ------------------------------------------------------------
    def _pipeline_for(self, other: Operator) -> Pipeline:
        if self.pipeline is None or other.pipeline is None:
            raise DefinitionError(
                f"cannot order '{self.task_id}' and '{other.task_id}': "
                "both must be created inside a `with Pipeline(...)` block",
                tasks=[self.task_id, other.task_id],
            )
        if self.pipeline is not other.pipeline:
            raise DefinitionError(
                f"task '{other.task_id}' belongs to pipeline '{other.pipeline.id}', "
                f"task '{self.task_id}' to pipeline '{self.pipeline.id}': "
                "dependencies cannot cross pipelines",
                pipeline=self.pipeline.id,
                tasks=[self.task_id, other.task_id],
            )
        return self.pipeline

    def set_downstream(self, other: Operator | Sequence[Operator]) -> None:
        for op in _as_list(other):
            self._pipeline_for(op).set_dependency(self.task_id, op.task_id)

    def set_upstream(self, other: Operator | Sequence[Operator]) -> None:
        for op in _as_list(other):
            op.set_downstream(self)

    def __rshift__(self, other: Operator | Sequence[Operator]) -> Operator | Sequence[Operator]:
        self.set_downstream(other)
        return other

    def __lshift__(self, other: Operator | Sequence[Operator]) -> Operator | Sequence[Operator]:
        self.set_upstream(other)
        return other

    def __rrshift__(self, other: Sequence[Operator]) -> Operator:
        self.set_upstream(other)
        return self

    def __rlshift__(self, other: Sequence[Operator]) -> Operator:
        self.set_downstream(other)
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.task_id}>"


def _as_list(other: Operator | Sequence[Operator]) -> list[Operator]:
    items = [other] if isinstance(other, Operator) else list(other)
    for item in items:
        if not isinstance(item, Operator):
            raise DefinitionError(f">> and << take tasks or lists of tasks, got {item!r}")
    return items
