"""The inline executor against the executor contract (it runs each try inside submit(): nothing to cancel)."""

from __future__ import annotations

import pytest

from headwater.executors.base import Executor
from headwater.executors.inline import InlineExecutor
from headwater.testing.conformance import ExecutorConformance


class TestInlineExecutor(ExecutorConformance):
    supports_cancel = False

    @pytest.fixture
    def executor(self) -> Executor:
        return InlineExecutor()
