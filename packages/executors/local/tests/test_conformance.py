"""The local executor against the executor contract every plugin is held to."""

from __future__ import annotations

import pytest

from headwater.plugin import Executor
from headwater.testing.conformance import ExecutorConformance
from headwater_local.executor import LocalExecutor


class TestLocalExecutor(ExecutorConformance):
    @pytest.fixture
    def executor(self) -> Executor:
        return LocalExecutor(parallelism=4)
