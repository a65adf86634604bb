"""SlackOperator (``slack.message``): a task that posts a message, on success or (with a trigger rule) failure."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from headwater import DefinitionError, Operator

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context
    from headwater.plugin import TaskOptionArgs

#: The placeholders ``text`` may use.
FIELDS = frozenset({"pipeline_id", "run_id", "task_id", "logical_date", "ds", "partition", "try_number", "params"})


def _check_template(task_id: str, text: str) -> None:
    """Reject a ``text`` whose ``{placeholders}`` are unknown or malformed, naming the task."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise DefinitionError(f"task '{task_id}': text is not a valid template: {exc}", tasks=[task_id]) from None
    for name in names:
        root = name.split("[", 1)[0].split(".", 1)[0]
        if root not in FIELDS:
            known = ", ".join("{" + f + "}" for f in sorted(FIELDS))
            raise DefinitionError(
                f"task '{task_id}': text uses the unknown placeholder {{{name}}} (known: {known}; "
                "write {{ and }} for literal braces)",
                tasks=[task_id],
            )


class SlackOperator(Operator):
    """Post ``text`` to Slack through connection ``conn`` (a ``slack://`` token or a ``slack+webhook://`` URL).

    ``text`` may use ``{pipeline_id}``, ``{run_id}``, ``{task_id}``, ``{logical_date}``, ``{ds}``,
    ``{partition}``, ``{try_number}`` and ``{params[name]}``. ``channel`` overrides the connection's
    ``?channel=``; ``blocks`` (Block Kit dicts) replace the default layout, with ``text`` as the
    notification text. Pair it with ``trigger_rule="one_failed"`` to post when an upstream task
    failed. A refused token or an unknown channel fails the task at once (never retried); Slack
    being unreachable, 5xx and 429 (after the SDK's own waits) fail it as retryable.
    """

    operator_name = "slack.message"

    def __init__(
        self,
        task_id: str,
        *,
        text: str,
        conn: str = "slack",
        channel: str | None = None,
        blocks: Sequence[Mapping[str, Any]] | None = None,
        username: str | None = None,
        icon_emoji: str | None = None,
        request_timeout: float = 10.0,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        if not isinstance(text, str) or not text.strip():
            raise DefinitionError(f"task '{task_id}': text must be a non-empty string, got {text!r}", tasks=[task_id])
        _check_template(task_id, text)
        if not isinstance(conn, str) or not conn:
            raise DefinitionError(f"task '{task_id}': conn must be a connection id, got {conn!r}", tasks=[task_id])
        if channel is not None and (not isinstance(channel, str) or not channel.strip()):
            raise DefinitionError(f"task '{task_id}': channel must be a non-empty string", tasks=[task_id])
        if blocks is not None and (
            isinstance(blocks, str | bytes | Mapping) or not all(isinstance(b, Mapping) for b in blocks)
        ):
            raise DefinitionError(f"task '{task_id}': blocks must be a list of Block Kit dicts", tasks=[task_id])
        if isinstance(request_timeout, bool) or not isinstance(request_timeout, int | float) or request_timeout <= 0:
            raise DefinitionError(
                f"task '{task_id}': request_timeout must be seconds > 0, got {request_timeout!r}", tasks=[task_id]
            )
        self.text = text
        self.conn = conn
        self.channel = channel
        self.blocks = [dict(b) for b in blocks] if blocks is not None else None
        self.username = username
        self.icon_emoji = icon_emoji
        self.request_timeout = float(request_timeout)
        super().__init__(task_id, **options)

    def describe(self) -> str:
        return f"post to Slack {self.channel or ''} via connection '{self.conn}'".replace("  ", " ")

    def render(self, ctx: Context) -> str:
        """``text`` with the run's values filled in."""
        return self.text.format(
            pipeline_id=ctx.pipeline_id,
            run_id=ctx.run_id,
            task_id=ctx.task_id,
            logical_date=ctx.logical_date.isoformat(),
            ds=ctx.logical_date.date().isoformat(),
            partition=ctx.partition or "",
            try_number=ctx.try_number,
            params=ctx.params,
        )

    def execute(self, ctx: Context) -> dict[str, str]:
        from headwater.secrets import mask
        from headwater_slack.blocks import escape
        from headwater_slack.client import SlackPoster
        from headwater_slack.target import from_connection

        target = from_connection(ctx.connection(self.conn), channel=self.channel)
        poster = SlackPoster(target, timeout=self.request_timeout, username=self.username, icon_emoji=self.icon_emoji)
        text = self.render(ctx)
        blocks = self.blocks or [
            {"type": "section", "text": {"type": "mrkdwn", "text": mask(text)[:3000]}},  # the user's mrkdwn
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": escape(f"{ctx.pipeline_id} · {ctx.run_id} · {ctx.logical_date.isoformat()}"),
                    }
                ],
            },
        ]
        posted = poster.post(mask(text), blocks)
        ctx.log.info("posted to Slack (%s): %s", target.describe(), mask(text))
        return posted
