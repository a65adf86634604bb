"""Sensor (wait for a condition) and the core's FileSensor."""

from __future__ import annotations

import glob
import time
from typing import TYPE_CHECKING

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
    the task is stopped.
    """

    def __init__(
        self,
        task_id: str,
        *,
        poke_interval: Duration = "30s",
        wait_timeout: Duration = "1h",
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.poke_interval = parse_duration(poke_interval, what=f"task '{task_id}': poke_interval")
        self.wait_timeout = parse_duration(wait_timeout, what=f"task '{task_id}': wait_timeout")
        super().__init__(task_id, **options)

    def poke(self, ctx: Context) -> object:
        raise NotImplementedError

    def execute(self, ctx: Context) -> object:
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
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        self.path = path
        super().__init__(task_id, poke_interval=poke_interval, wait_timeout=wait_timeout, **options)

    def describe(self) -> str:
        return f"wait for {self.path}"

    def poke(self, ctx: Context) -> object:
        return sorted(glob.glob(self.path))
