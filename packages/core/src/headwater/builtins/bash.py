"""BashOperator: run a shell command; its last line of output is the result."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING

from headwater.errors import DefinitionError
from headwater.model.context import TaskCancelled
from headwater.model.operator import Operator

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from headwater.model.context import Context
    from headwater.model.options import TaskOptionArgs


class BashCommandError(RuntimeError):
    """The command exited with a non-zero status."""


class BashOperator(Operator):
    """Run ``command`` with ``bash -c`` in its own process group.

    The environment gets ``HEADWATER_RUN_ID``, ``HEADWATER_TASK_ID``,
    ``HEADWATER_LOGICAL_DATE`` and ``HEADWATER_PARAM_<NAME>`` for each param,
    plus ``env``. Output goes to the task's log. A stopped task (timeout)
    kills the whole process group, children included.
    """

    operator_name = "bash"

    def __init__(
        self,
        task_id: str,
        *,
        command: str,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        if not isinstance(command, str) or not command.strip():
            raise DefinitionError(f"task '{task_id}': command must be a non-empty string", tasks=[task_id])
        self.command = command
        self.env = dict(env or {})
        self.cwd = cwd
        super().__init__(task_id, **options)

    def describe(self) -> str:
        return f"bash: {self.command[:60]}"

    def execute(self, ctx: Context) -> object:
        env = {
            **os.environ,
            "HEADWATER_RUN_ID": ctx.run_id,
            "HEADWATER_TASK_ID": ctx.task_id,
            "HEADWATER_LOGICAL_DATE": ctx.logical_date.isoformat(),
            **({"HEADWATER_PROJECT_DIR": ctx.project_dir} if ctx.project_dir else {}),
            **{f"HEADWATER_PARAM_{k.upper()}": str(v) for k, v in ctx.params.items()},
            **self.env,
        }
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(
                ["bash", "-c", self.command],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=ctx.path(self.cwd or "."),  # the project directory unless told otherwise
                start_new_session=True,
            )
            try:
                while True:
                    try:
                        code = proc.wait(timeout=0.05 if not ctx.cancelled.is_set() else 0)
                        break
                    except subprocess.TimeoutExpired:
                        if ctx.cancelled.is_set():
                            raise TaskCancelled(f"task {ctx.task_id} was stopped") from None
            except BaseException:
                _kill_group(proc)
                raise
            out.seek(0)
            output = out.read().decode("utf-8", errors="replace")
        for line in output.splitlines():
            ctx.log.info("%s", line)
        if code != 0:
            tail = "\n".join(output.splitlines()[-5:])
            raise BashCommandError(f"command exited with status {code}" + (f": {tail}" if tail else ""))
        lines = output.strip().splitlines()
        return lines[-1] if lines else None


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
