"""An alert as an email: a subject a person can triage from the inbox, a plain-text and an HTML body."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from headwater.plugin import Alert, AlertKind
from headwater.secrets import mask
from headwater_email.settings import envelope_address

DEFAULT_SUBJECT_PREFIX = "[headwater]"
SUBJECT_LIMIT = 200
ERROR_LINES = 60
ERROR_CHARS = 8000

LABELS: dict[AlertKind, str] = {
    AlertKind.SUCCESS: "SUCCEEDED",
    AlertKind.FAILURE: "FAILED",
    AlertKind.RETRY: "RETRYING",
    AlertKind.INFO: "INFO",
    AlertKind.DEADLINE_MISSED: "DEADLINE MISSED",
    AlertKind.DEADLINE_PREDICTED: "DEADLINE AT RISK",
    AlertKind.CIRCUIT_OPEN: "CIRCUIT OPEN",
    AlertKind.FRESHNESS: "STALE",
}

_COLOURS: dict[AlertKind, str] = {
    AlertKind.SUCCESS: "#1a7f37",
    AlertKind.FAILURE: "#cf222e",
    AlertKind.CIRCUIT_OPEN: "#cf222e",
    AlertKind.DEADLINE_MISSED: "#cf222e",
    AlertKind.RETRY: "#bf8700",
    AlertKind.DEADLINE_PREDICTED: "#bf8700",
    AlertKind.FRESHNESS: "#bf8700",
    AlertKind.INFO: "#0969da",
}

#: how each known ``Alert.details`` key is shown; "duration" values are seconds
_DETAILS: dict[str, tuple[str, str]] = {
    "reason": ("Reason", "text"),
    "retry_delay": ("Retrying in", "duration"),
    "deadline_at": ("Deadline", "time"),
    "expected_end_at": ("Expected end", "time"),
    "consecutive_failures": ("Failed runs in a row", "text"),
    "threshold": ("Breaker threshold", "text"),
    "opened_at": ("Breaker opened", "time"),
    "asset": ("Asset", "text"),
    "partition": ("Partition", "text"),
    "lag": ("Age", "duration"),
    "max_lag": ("Max lag", "duration"),
    "expected_by": ("Due", "time"),
}
_HIDDEN_DETAILS = frozenset({"max_tries"})  # shown as part of "Try"


@dataclass(frozen=True, slots=True)
class _Row:
    label: str
    text: str
    href: str | None = None


def alert_email(
    alert: Alert,
    *,
    sender: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    subject_prefix: str = DEFAULT_SUBJECT_PREFIX,
) -> EmailMessage:
    """``alert`` as a multipart/alternative message (plain text first, then HTML). Secrets are masked."""
    message = EmailMessage()
    message["Subject"] = alert_subject(alert, prefix=subject_prefix)
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = envelope_address(sender).rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(idstring="headwater", domain=domain)
    message["X-Headwater-Alert"] = alert.kind.value
    message["X-Headwater-Pipeline"] = _one_line(alert.pipeline_id)
    if alert.run_id:
        message["X-Headwater-Run"] = _one_line(alert.run_id)
    message.set_content(alert_text(alert))
    message.add_alternative(alert_html(alert), subtype="html")
    return message


def alert_subject(alert: Alert, *, prefix: str = DEFAULT_SUBJECT_PREFIX) -> str:
    """``[headwater] FAILED warehouse_refresh.load (try 3/3)``: what happened, to what, in one line."""
    where = alert.pipeline_id + (f".{alert.task_id}" if alert.task_id else "")
    parts = [prefix.strip(), LABELS.get(alert.kind, alert.kind.value.upper()), where]
    suffix = _subject_suffix(alert)
    subject = " ".join(p for p in parts if p) + (f" ({suffix})" if suffix else "")
    if alert.kind is AlertKind.INFO and alert.message:
        subject += f": {_first_line(alert.message)}"
    subject = _one_line(mask(subject))
    return subject if len(subject) <= SUBJECT_LIMIT else subject[: SUBJECT_LIMIT - 3] + "..."


def alert_text(alert: Alert) -> str:
    """The plain-text body: the message, a field per line, the error, the log."""
    lines = [mask(alert.message), ""]
    rows = _rows(alert)
    width = max((len(r.label) for r in rows), default=0)
    lines += [f"{r.label.ljust(width)}  {r.href or r.text}" for r in rows]
    error = _error_excerpt(alert)
    if error:
        lines += ["", "Error", "-----", error]
    lines += ["", "-- ", "Sent by Headwater (email notifier)."]
    return "\n".join(lines) + "\n"


def alert_html(alert: Alert) -> str:
    """The HTML body: the same content as :func:`alert_text`, escaped, with a coloured banner and a log link."""
    colour = _COLOURS.get(alert.kind, "#57606a")
    label = LABELS.get(alert.kind, alert.kind.value.upper())
    esc = html.escape
    cells = []
    for r in _rows(alert):
        value = f'<a href="{esc(r.href)}">{esc(r.text)}</a>' if r.href else esc(r.text)
        cells.append(
            f'<tr><th align="left" style="padding:2px 12px 2px 0;color:#57606a;font-weight:normal">{esc(r.label)}</th>'
            f'<td style="padding:2px 0">{value}</td></tr>'
        )
    error = _error_excerpt(alert)
    error_html = (
        '<h3 style="margin:16px 0 4px;font-size:14px">Error</h3>'
        '<pre style="background:#f6f8fa;padding:8px;white-space:pre-wrap;font-size:12px">'
        f"{esc(error)}</pre>"
        if error
        else ""
    )
    return (
        "<!DOCTYPE html>\n"
        '<html><body style="font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#1f2328">'
        f'<div style="background:{colour};color:#ffffff;padding:8px 12px;font-weight:bold">'
        f"{esc(label)} &middot; {esc(_one_line(alert.pipeline_id))}</div>"
        f'<p style="font-size:15px">{esc(mask(alert.message))}</p>'
        f'<table style="border-collapse:collapse;font-size:13px">{"".join(cells)}</table>'
        f"{error_html}"
        '<p style="color:#57606a;font-size:12px">Sent by Headwater (email notifier).</p>'
        "</body></html>\n"
    )


# -- internals ---------------------------------------------------------------------------


def _subject_suffix(alert: Alert) -> str:
    kind = alert.kind
    if kind in (AlertKind.FAILURE, AlertKind.RETRY) and alert.try_number is not None:
        total = _max_tries(alert)
        return f"try {alert.try_number}/{total}" if total else f"try {alert.try_number}"
    if kind in (AlertKind.SUCCESS, AlertKind.FAILURE) and not alert.task_id and alert.logical_date:
        return _short_time(alert.logical_date)
    if kind is AlertKind.DEADLINE_MISSED and alert.minutes_late is not None:
        return f"{_minutes(alert.minutes_late)} late"
    if kind is AlertKind.DEADLINE_PREDICTED and alert.minutes_late is not None:
        return f"predicted {_minutes(alert.minutes_late)} late"
    if kind is AlertKind.CIRCUIT_OPEN and alert.details.get("consecutive_failures"):
        return f"after {alert.details['consecutive_failures']} failed runs"
    if kind is AlertKind.FRESHNESS and alert.details.get("partition"):
        return f"partition {alert.details['partition']}"
    return ""


def _max_tries(alert: Alert) -> int | None:
    """The task's number of tries: from the details, or a failure with no retries left was the last try."""
    value = alert.details.get("max_tries", "")
    if value.isdigit():
        return int(value)
    if alert.kind is AlertKind.FAILURE and alert.details.get("reason", "").startswith("no retries left"):
        return alert.try_number
    return None


def _rows(alert: Alert) -> list[_Row]:
    rows = [_Row("Pipeline", alert.pipeline_id)]
    if alert.task_id:
        rows.append(_Row("Asset" if alert.kind is AlertKind.FRESHNESS else "Task", alert.task_id))
    if alert.run_id:
        rows.append(_Row("Run", alert.run_id))
    if alert.logical_date:
        rows.append(_Row("Logical date", alert.logical_date))
    if alert.try_number is not None:
        total = _max_tries(alert)
        rows.append(_Row("Try", f"{alert.try_number} of {total}" if total else str(alert.try_number)))
    if alert.minutes_late is not None:
        rows.append(_Row("Late by", _minutes(alert.minutes_late)))
    if alert.critical_path:
        rows.append(_Row("Critical path", " -> ".join(alert.critical_path)))
    for key, value in alert.details.items():
        if key in _HIDDEN_DETAILS or (key == "asset" and value == alert.task_id):
            continue
        label, style = _DETAILS.get(key, (key.replace("_", " ").capitalize(), "text"))
        rows.append(_Row(label, _detail(value, style)))
    if alert.log_url:
        url = mask(alert.log_url)
        rows.append(_Row("Log", url, href=url if url.startswith(("https://", "http://")) else None))
    if alert.log_path:
        rows.append(_Row("Log file", alert.log_path))
    return [_Row(r.label, _one_line(mask(r.text)), r.href) for r in rows]


def _error_excerpt(alert: Alert) -> str:
    """The error, masked and bounded; nothing when it is already the message's whole story."""
    error = mask(alert.error or "").strip()
    if not error or (len(error.splitlines()) == 1 and error in alert.message):
        return ""
    lines = error.splitlines()
    excerpt = "\n".join(lines[:ERROR_LINES])
    if len(excerpt) > ERROR_CHARS:
        excerpt = excerpt[:ERROR_CHARS] + "..."
    if len(lines) > ERROR_LINES:
        excerpt += f"\n... ({len(lines) - ERROR_LINES} more lines in the log)"
    return excerpt


def _detail(value: str, style: str) -> str:
    if style == "duration":
        try:
            return _duration(float(value))
        except ValueError:
            return value
    if style == "time":
        return _clock(value)
    return value


def _duration(seconds: float) -> str:
    """Seconds as ``1h30m``, ``2m05s``, ``45s``, ``0.5s``."""
    if seconds < 60:
        return f"{round(seconds, 1):g}s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n)


def _minutes(value: float) -> str:
    return f"{value:.0f} min" if abs(value) >= 10 else f"{value:.1f} min"


def _clock(value: str) -> str:
    """An ISO timestamp as ``2026-01-05 10:00 UTC`` (kept as given when it is not one)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    zone = moment.tzname() or ""
    return moment.strftime("%Y-%m-%d %H:%M") + (f" {zone}" if zone else "")


def _short_time(value: str) -> str:
    """A logical date for a subject: ``2026-01-05`` at midnight, else ``2026-01-05 06:00``."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%d %H:%M")


def _first_line(text: str, limit: int = 100) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


_WHITESPACE = re.compile(r"\s+")


def _one_line(text: str) -> str:
    """Header-safe: no line breaks or runs of whitespace."""
    return _WHITESPACE.sub(" ", text).strip()
