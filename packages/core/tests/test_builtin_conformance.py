"""The core's own operators and console notifier pass the suites every plugin subclasses."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

from headwater.builtins.bash import BashOperator
from headwater.builtins.notify import ALERT_LOGGER, ConsoleNotifier, NotifyOperator
from headwater.plugin import Notifier
from headwater.testing.conformance import NotifierConformance, OperatorConformance


class TestBashOperator(OperatorConformance):
    operator_class = BashOperator
    operator_name = "bash"

    @pytest.fixture
    def operator_kwargs(self) -> dict[str, object]:
        return {"command": "echo conformance"}


class TestNotifyOperator(OperatorConformance):
    operator_class = NotifyOperator
    operator_name = "notify"

    @pytest.fixture
    def operator_kwargs(self) -> dict[str, object]:
        return {"message": "run {run_id} done"}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(record.getMessage())


class TestConsoleNotifier(NotifierConformance):
    notifier_name = "console"

    @pytest.fixture
    def collected(self) -> Iterator[_Collect]:
        handler = _Collect()
        logger = logging.getLogger(ALERT_LOGGER)
        level = logger.level
        logger.setLevel(logging.INFO)  # the CLI shows info alerts too
        logger.addHandler(handler)
        yield handler
        logger.removeHandler(handler)
        logger.setLevel(level)

    @pytest.fixture
    def notifier(self, collected: _Collect) -> Notifier:
        return ConsoleNotifier()

    @pytest.fixture
    def delivered(self, collected: _Collect) -> Callable[[], list[str]]:
        return lambda: list(collected.texts)
