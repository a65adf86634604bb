"""The process executor against the executor contract every plugin is held to."""

from __future__ import annotations

import pytest

from headwater.plugin import Executor
from headwater.testing.conformance import ExecutorConformance
from headwater_process.executor import ProcessExecutor


class TestProcessExecutor(ExecutorConformance):
    @pytest.fixture
    def executor(self) -> Executor:
        return ProcessExecutor(parallelism=4, options={"kill_grace": 1.0})
