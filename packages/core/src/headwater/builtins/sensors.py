"""Sensor (wait for a condition) and the core's FileSensor."""

from __future__ import annotations

import glob
import time
from typing import TYPE_CHECKING, Literal

from headwater.errors import DefinitionError
from headwater.model.context import Reschedule
from headwater.model.durations import Duration, parse_duration
from headwater.model.operator import Operator

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from headwater.model.context import Context
    from headwater.model.options import TaskOptionArgs


class SensorTimeout(TimeoutError):  # noqa: N818 - a TimeoutError, named for what happened
    """The condition did not become true within the sensor's ``wait_timeout``."""


class Sensor(Operator):
    """Wait until :meth:`poke` returns a truthy value (the task's result), checking every ``poke_interval``.

    Gives up with SensorTimeout after ``wait_timeout``. The wait ends at once if
    the task is stopped. ``mode="poke"`` (the default) waits inside one try and
    holds its worker and pool slot meanwhile; ``mode="reschedule"`` pokes once per
    try and, finding nothing, gives both back until the next poke (use it for
    long waits and in pools).
    """

    def __init__(
        self,
        task_id: str,
        *,
        poke_interval: Duration = "30s",
        wait_timeout: Duration = "1h",
        mode: Literal["poke", "reschedule"] = "poke",
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.poke_interval = parse_duration(poke_interval, what=f"task '{task_id}': poke_interval")
        self.wait_timeout = parse_duration(wait_timeout, what=f"task '{task_id}': wait_timeout")
        if mode not in ("poke", "reschedule"):
            raise DefinitionError(f"task '{task_id}': mode must be 'poke' or 'reschedule', got {mode!r}")
        self.mode = mode
        super().__init__(task_id, **options)

    @property
    def blocks_slot(self) -> bool:
        """Whether the sensor holds its pool slot while it waits (``poke`` mode)."""
        return self.mode == "poke"

    def poke(self, ctx: Context) -> object:
        raise NotImplementedError

    def execute(self, ctx: Context) -> object:
        if self.mode == "reschedule":
            found = self.poke(ctx)
            if found:
                return found
            raise Reschedule(self.poke_interval)  # the engine enforces wait_timeout across pokes
        deadline = time.monotonic() + self.wait_timeout
        while True:
            found = self.poke(ctx)
            if found:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SensorTimeout(f"condition not met within {self.wait_timeout:g}s")
            ctx.wait(min(self.poke_interval, remaining))


class FileSensor(Sensor):
    """Wait for a file (or a glob pattern) to exist; the result is the sorted list of matches."""

    operator_name = "file.exists"

    def __init__(
        self,
        task_id: str,
        *,
        path: str,
        poke_interval: Duration = "30s",
        wait_timeout: Duration = "1h",
        mode: Literal["poke", "reschedule"] = "poke",
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.path = path
        super().__init__(task_id, poke_interval=poke_interval, wait_timeout=wait_timeout, mode=mode, **options)

    def describe(self) -> str:
        return f"wait for {self.path}"

    def poke(self, ctx: Context) -> object:
        return sorted(glob.glob(self.path))
