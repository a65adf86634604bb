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


_LEVELS = {
    AlertKind.FAILURE: logging.ERROR,
    AlertKind.CIRCUIT_OPEN: logging.ERROR,
    AlertKind.DEADLINE_MISSED: logging.ERROR,
    AlertKind.RETRY: logging.WARNING,
    AlertKind.DEADLINE_PREDICTED: logging.WARNING,
    AlertKind.FRESHNESS: logging.WARNING,
}


def format_alert(alert: Alert) -> str:
    """One readable line: ``[kind] pipeline/task (run, logical date): message | late | path | error | log``."""
    where = f"{alert.pipeline_id}/{alert.task_id}" if alert.task_id else alert.pipeline_id
    about = ", ".join(part for part in (alert.run_id, alert.logical_date) if part)
    text = f"[{alert.kind.value}] {where}" + (f" ({about})" if about else "") + f": {alert.message}"
    if alert.minutes_late is not None:
        late = alert.minutes_late
        text += f" | {late:.1f} min late" if abs(late) < 10 else f" | {late:.0f} min late"
    if alert.critical_path:
        text += f" | critical path: {' -> '.join(alert.critical_path)}"
    if alert.error and (alert.error.strip().splitlines() or [""])[0] not in alert.message:
        text += f" | {alert.error}"
    if alert.log_url or alert.log_path:
        text += f" | log: {alert.log_url or alert.log_path}"
    return text


class ConsoleNotifier:
    """Writes alerts to the ``headwater.alerts`` logger (shown on the terminal by the CLI).

    Failures, open circuit breakers and missed deadlines are logged as errors, retries,
    predicted misses and stale assets as warnings, the rest as info.
    """

    def __init__(self, **_options: object) -> None:
        self.logger = logging.getLogger(ALERT_LOGGER)

    def notify(self, alert: Alert) -> None:
        from headwater.secrets import mask

        self.logger.log(_LEVELS.get(alert.kind, logging.INFO), "%s", mask(format_alert(alert)))


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
