"""Alerts and burst summaries as Slack messages: Block Kit blocks plus the plain notification text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from headwater.plugin import Alert, AlertKind
from headwater.secrets import mask
from headwater_slack.throttle import Summary

Block = dict[str, Any]

HEADER_LIMIT = 150
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
TEXT_LIMIT = 3000
TOP_ERRORS = 5
TOP_PIPELINES = 10

#: kinds that deserve the ``mention`` (someone must act)
URGENT = frozenset({AlertKind.FAILURE, AlertKind.CIRCUIT_OPEN, AlertKind.DEADLINE_MISSED})

_EMOJI = {
    AlertKind.FAILURE: ":red_circle:",
    AlertKind.RETRY: ":large_orange_circle:",
    AlertKind.SUCCESS: ":large_green_circle:",
    AlertKind.INFO: ":information_source:",
    AlertKind.DEADLINE_MISSED: ":alarm_clock:",
    AlertKind.DEADLINE_PREDICTED: ":hourglass_flowing_sand:",
    AlertKind.CIRCUIT_OPEN: ":no_entry:",
    AlertKind.FRESHNESS: ":warning:",
}
_NOUNS = {
    AlertKind.FAILURE: ("failure", "failures"),
    AlertKind.RETRY: ("retry", "retries"),
    AlertKind.SUCCESS: ("successful run", "successful runs"),
    AlertKind.INFO: ("message", "messages"),
    AlertKind.DEADLINE_MISSED: ("missed deadline", "missed deadlines"),
    AlertKind.DEADLINE_PREDICTED: ("predicted deadline miss", "predicted deadline misses"),
    AlertKind.CIRCUIT_OPEN: ("opened circuit breaker", "opened circuit breakers"),
    AlertKind.FRESHNESS: ("stale asset", "stale assets"),
}


@dataclass(frozen=True, slots=True)
class Message:
    """What is posted: ``text`` (notifications, fallback) and ``blocks`` (what Slack shows)."""

    text: str
    blocks: list[Block]

    def all_text(self) -> str:
        """Every text the message carries, fallback first (for logs and tests)."""
        parts = [self.text]
        for block in self.blocks:
            parts.extend(_texts(block))
        return "\n".join(parts)


def _texts(value: object) -> list[str]:
    if isinstance(value, dict):
        out = [value["text"]] if isinstance(value.get("text"), str) else []
        for key, item in value.items():
            if key != "text" or not isinstance(item, str):
                out.extend(_texts(item))
        return out
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


# -- text helpers ------------------------------------------------------------------------------


def cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def escape(text: str) -> str:
    """Masked, with the three characters Slack's mrkdwn reserves escaped."""
    return mask(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: str) -> str:
    """An inline code span (ids with ``_`` or ``*`` are not read as formatting)."""
    return "`" + escape(text).replace("`", "'") + "`"


def link(url: str, label: str) -> str:
    """A mrkdwn link ``<url|label>``."""
    safe = mask(url).replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{safe}|{escape(label)}>"


def plural(n: int, kind: AlertKind) -> str:
    one, many = _NOUNS.get(kind, ("alert", "alerts"))
    return f"{n} {one if n == 1 else many}"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def span(seconds: float) -> str:
    """``minute``, ``5 minutes``, ``hour``, ``90 seconds``: the window in words, after "the last"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return unit if n == 1 else f"{n} {unit}s"
    return f"{seconds:g} seconds"


def late(minutes: float) -> str:
    """``42 min``, ``4.5 min``."""
    return f"{minutes:.0f} min" if abs(minutes) >= 10 else f"{minutes:.1f} min"


def excerpt(error: str, *, max_chars: int, max_lines: int) -> str:
    """The error, masked and cut to ``max_lines`` lines and ``max_chars`` characters."""
    lines = mask(error).strip().splitlines()
    text = "\n".join(lines[:max_lines])
    shortened = len(lines) > max_lines
    if len(text) > max_chars:
        text, shortened = text[:max_chars], True
    return text + ("\n… (cut; the full error is in the task's log)" if shortened else "")


# -- alerts ------------------------------------------------------------------------------------


def title(alert: Alert) -> str:
    """The headline: what happened, to what."""
    task, pipeline = alert.task_id, alert.pipeline_id
    match alert.kind:
        case AlertKind.FAILURE:
            return f"Task {task} failed in {pipeline}" if task else f"Run of {pipeline} failed"
        case AlertKind.RETRY:
            return f"Task {task} is retrying in {pipeline}" if task else f"{pipeline} is retrying"
        case AlertKind.SUCCESS:
            return f"Task {task} succeeded in {pipeline}" if task else f"Run of {pipeline} succeeded"
        case AlertKind.DEADLINE_MISSED:
            return f"{pipeline} missed its deadline"
        case AlertKind.DEADLINE_PREDICTED:
            return f"{pipeline} is predicted to miss its deadline"
        case AlertKind.CIRCUIT_OPEN:
            return f"Circuit breaker of {task} opened in {pipeline}"
        case AlertKind.FRESHNESS:
            return f"Asset {task} of {pipeline} is stale"
        case _:
            return f"{pipeline}: {task}" if task else pipeline


def _fields(alert: Alert) -> list[str]:
    fields = [f"*Pipeline*\n{code(alert.pipeline_id)}"]
    if alert.task_id:
        fields.append(f"*{'Asset' if alert.kind is AlertKind.FRESHNESS else 'Task'}*\n{code(alert.task_id)}")
    if alert.try_number is not None:
        max_tries = alert.details.get("max_tries")
        fields.append(f"*Try*\n{alert.try_number}" + (f" of {escape(max_tries)}" if max_tries else ""))
    if alert.minutes_late is not None:
        predicted = alert.kind is AlertKind.DEADLINE_PREDICTED
        fields.append(f"*{'Predicted late' if predicted else 'Late'}*\n{late(alert.minutes_late)}")
    if alert.run_id:
        fields.append(f"*Run*\n{code(alert.run_id)}")
    if alert.logical_date:
        fields.append(f"*Logical date*\n{escape(alert.logical_date)}")
    for key, label in (("partition", "Partition"), ("consecutive_failures", "Failed runs in a row")):
        if key in alert.details:
            fields.append(f"*{label}*\n{escape(alert.details[key])}")
    return [cut(f, FIELD_LIMIT) for f in fields[:10]]


def fallback(alert: Alert) -> str:
    """The notification text: ``[kind] pipeline/task: message | 42 min late | log: url``."""
    where = f"{alert.pipeline_id}/{alert.task_id}" if alert.task_id else alert.pipeline_id
    text = f"[{alert.kind.value}] {where}: {alert.message}"
    if alert.try_number is not None and "try" not in alert.message:
        text += f" | try {alert.try_number}"
    if alert.minutes_late is not None:
        text += f" | {late(alert.minutes_late)} late"
    if alert.critical_path:
        text += f" | critical path: {' -> '.join(alert.critical_path)}"
    first = (alert.error or "").strip().splitlines()
    if first and first[0] not in alert.message:
        text += f" | {first[0]}"
    if alert.log_url:
        text += f" | log: {alert.log_url}"
    return cut(mask(text), TEXT_LIMIT)


def alert_message(
    alert: Alert, *, error_chars: int = 1200, error_lines: int = 15, mention: str | None = None
) -> Message:
    """The Slack message for ``alert``: header, message, fields, critical path, error excerpt, log link."""
    head = f"{_EMOJI.get(alert.kind, ':bell:')} {mask(title(alert))}"
    text = escape(alert.message)
    if mention and alert.kind in URGENT:
        text = f"{mention} {text}"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(head, HEADER_LIMIT), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT)}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in _fields(alert)]},
    ]
    if alert.critical_path:
        path = " → ".join(code(t) for t in alert.critical_path)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(f"*Critical path*\n{path}", 3000)}})
    if alert.error and alert.error.strip():
        body = excerpt(alert.error, max_chars=error_chars, max_lines=error_lines)
        body = escape(body).replace("```", "'''")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": cut(f"*Error*\n```{body}```", 3000)}})
    if alert.log_url:
        context = [link(alert.log_url, ":page_facing_up: Open the log")]
    elif alert.log_path:
        context = [f"Log: {code(alert.log_path)}"]
    else:
        context = []
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": c} for c in context]})
    return Message(text=fallback(alert), blocks=blocks)


# -- burst summaries ---------------------------------------------------------------------------


def _what(summary: Summary) -> str:
    if len(summary.kinds) == 1:
        return plural(summary.total, summary.kinds[0][0])
    return f"{_count(summary.total, 'alert', 'alerts')} (" + ", ".join(plural(n, k) for k, n in summary.kinds) + ")"


def summary_headline(summary: Summary) -> str:
    """``500 failures in 12 pipelines in the last minute``."""
    pipelines = _count(len(summary.pipelines), "pipeline", "pipelines")
    return f"{_what(summary)} in {pipelines} in the last {span(summary.window)}"


def summary_message(summary: Summary, *, mention: str | None = None) -> Message:
    """One message for a burst: counts by kind and pipeline, and the top errors."""
    headline = summary_headline(summary)
    top = summary.errors[:TOP_ERRORS]
    text = mask(f"{headline}: top errors: " + "; ".join(f"{line} ({n}x)" for line, n, _ in top))
    held = summary.total - summary.posted
    intro = (
        f"*{escape(headline)}*. {_count(summary.posted, 'alert was', 'alerts were')} posted one by one; "
        f"the other {held} are summarised here (at most {summary.limit} alerts are posted per {span(summary.window)})."
    )
    if summary.repeats:
        intro += f" {_count(summary.repeats, 'was a repeat', 'were repeats')} of an alert already sent."
    if mention and any(kind in URGENT for kind, _ in summary.kinds):
        intro = f"{mention} {intro}"
    errors = "\n".join(f"• {n} x {code(cut(line, 300))} ({_count(p, 'pipeline', 'pipelines')})" for line, n, p in top)
    shown = summary.pipelines[:TOP_PIPELINES]
    pipelines = ", ".join(f"{code(p)} ({n})" for p, n in shown)
    if len(summary.pipelines) > len(shown):
        pipelines += f" and {len(summary.pipelines) - len(shown)} more"
    head = f":rotating_light: {cut(mask(headline), HEADER_LIMIT - 20)}"
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(head, HEADER_LIMIT), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(intro, SECTION_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(f"*Top errors*\n{errors}", SECTION_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(f"*Pipelines*\n{pipelines}", SECTION_LIMIT)}},
    ]
    return Message(text=cut(text, TEXT_LIMIT), blocks=blocks)
