"""The operator itself, imported the first time a pipeline uses ``greeting.hello``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater import Operator

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context
    from headwater.plugin import TaskOptionArgs


class GreetOperator(Operator):
    """Greets ``name``: its result is ``"hello <name>"``."""

    operator_name = "greeting.hello"

    def __init__(self, task_id: str, *, name: str, **options: Unpack[TaskOptionArgs]) -> None:
        self.name = name  # set before Operator.__init__, which adds the task to the open pipeline
        super().__init__(task_id, **options)

    def execute(self, ctx: Context) -> str:
        return f"hello {self.name}"

    def describe(self) -> str:
        return f"greet {self.name}"
