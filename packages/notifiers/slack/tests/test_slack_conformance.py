"""The shared plugin contracts: the ``slack`` notifier and the ``slack.message`` operator."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from slack_stub import CHANNELS, TOKEN, SlackStub

from headwater.plugin import Notifier
from headwater.testing.conformance import NotifierConformance, OperatorConformance
from headwater_slack import SlackNotifier, SlackOperator


class TestSlackNotifier(NotifierConformance):
    notifier_name = "slack"

    @pytest.fixture
    def notifier(self, slack: SlackStub) -> Notifier:
        return SlackNotifier(token=TOKEN, channel=CHANNELS[0], base_url=slack.base_url)

    @pytest.fixture
    def delivered(self, slack: SlackStub) -> Callable[[], list[str]]:
        return slack.texts


class TestSlackOperator(OperatorConformance):
    operator_class = SlackOperator
    operator_name = "slack.message"

    @pytest.fixture
    def operator_kwargs(self, slack: SlackStub, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
        monkeypatch.setenv("HEADWATER_CONN_SLACK", f"slack://:{TOKEN}@{slack.netloc}/api/?tls=false")
        return {"conn": "slack", "channel": "#alerts", "text": "{pipeline_id} is done"}
