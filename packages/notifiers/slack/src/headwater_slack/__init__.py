"""headwater-slack: Headwater alerts as Slack messages (the ``slack`` notifier) and the ``slack.message`` operator.

Names are imported lazily, so ``import headwater_slack`` does not import slack-sdk.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "SlackNotifier": "headwater_slack.notifier",
    "SlackOperator": "headwater_slack.operator",
    "SlackRefusedError": "headwater_slack.errors",
    "SlackUnavailableError": "headwater_slack.errors",
}
__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from headwater_slack.errors import SlackRefusedError as SlackRefusedError
    from headwater_slack.errors import SlackUnavailableError as SlackUnavailableError
    from headwater_slack.notifier import SlackNotifier as SlackNotifier
    from headwater_slack.operator import SlackOperator as SlackOperator


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater_slack' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
