"""NotifyOperator (send an alert from a task) and the console notifier."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from headwater.errors import DefinitionError, PluginError
from headwater.model.operator import Operator
from headwater.plugin.notifier import Alert, AlertKind, Notifier

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from headwater.model.context import Context
    from headwater.model.options import TaskOptionArgs

ALERT_LOGGER = "headwater.alerts"


class ConsoleNotifier:
    """Writes alerts to the ``headwater.alerts`` logger (shown on the terminal by the CLI)."""

    def __init__(self, **_options: object) -> None:
        self.logger = logging.getLogger(ALERT_LOGGER)

    def notify(self, alert: Alert) -> None:
        level = logging.ERROR if alert.kind is AlertKind.FAILURE else logging.INFO
        where = f"{alert.pipeline_id}/{alert.task_id}" if alert.task_id else alert.pipeline_id
        text = f"[{alert.kind.value}] {where} ({alert.run_id}): {alert.message}"
        if alert.error:
            text += f" | {alert.error}"
        self.logger.log(level, "%s", text)


class NotifyOperator(Operator):
    """Send ``message`` through a registered notifier (``console``, ``slack``, ``email``...).

    ``message`` may use ``{pipeline_id}``, ``{run_id}``, ``{logical_date}``, ``{task_id}``
    and ``{params[name]}``. Pair it with a trigger rule: ``one_failed`` to alert on
    failure, the default ``all_success`` to announce success.
    """

    operator_name = "notify"

    def __init__(
        self,
        task_id: str,
        *,
        message: str,
        notifier: str = "console",
        kind: str = "info",
        notifier_options: dict[str, object] | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        try:
            self.kind = AlertKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in AlertKind)
            raise DefinitionError(f"task '{task_id}': unknown alert kind {kind!r} (one of: {known})") from None
        self.message = message
        self.notifier = notifier
        self.notifier_options = dict(notifier_options or {})
        super().__init__(task_id, **options)

    def describe(self) -> str:
        return f"notify via {self.notifier}"

    def execute(self, ctx: Context) -> object:
        from headwater.plugin.manager import Kind, get_manager

        factory = get_manager().resolve(Kind.NOTIFIER, self.notifier)
        if not callable(factory):
            raise PluginError(f"notifier {self.notifier!r} is not callable")
        notifier: Notifier = factory(**self.notifier_options)
        text = self.message.format(
            pipeline_id=ctx.pipeline_id,
            run_id=ctx.run_id,
            logical_date=ctx.logical_date.isoformat(),
            task_id=ctx.task_id,
            params=ctx.params,
        )
        alert = Alert(kind=self.kind, pipeline_id=ctx.pipeline_id, run_id=ctx.run_id, task_id=ctx.task_id, message=text)
        notifier.notify(alert)
        ctx.log.info("sent %s alert via %s: %s", self.kind.value, self.notifier, text)
        return text
