"""``email.send``: an operator that sends an email (plain text and/or HTML, attachments) from a pipeline."""

from __future__ import annotations

import html
import mimetypes
import re
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from headwater import DefinitionError, Operator
from headwater.plugin import ConfigError, PermanentError
from headwater_email.settings import SmtpSettings, envelope_address, parse_addresses
from headwater_email.transport import SmtpMailer

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context
    from headwater.plugin import TaskOptionArgs

#: ``{name}`` or ``{name[key]}``; any other brace (CSS, JSON) is left alone
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)(?:\[([^\[\]{}]+)\])?\}")
FIELDS = ("pipeline_id", "run_id", "task_id", "logical_date", "ds", "partition", "try_number", "params", "upstream")


class EmailOperator(Operator):
    """Send an email through the SMTP connection ``conn``; the result says to whom and its Message-ID.

    ``subject``, ``body``, ``html`` and ``files`` may use ``{pipeline_id}``, ``{run_id}``,
    ``{task_id}``, ``{logical_date}``, ``{ds}`` (YYYY-MM-DD), ``{partition}``, ``{try_number}``,
    ``{params[name]}`` and ``{upstream[task]}``. A refused login, rejected recipients or a
    missing attachment fail the task at once; an unreachable server or a 4xx reply is retried.
    """

    operator_name = "email.send"

    def __init__(
        self,
        task_id: str,
        *,
        conn: str,
        to: str | list[str],
        subject: str,
        body: str | None = None,
        html: str | None = None,
        cc: str | list[str] | None = None,
        bcc: str | list[str] | None = None,
        sender: str | None = None,
        files: str | list[str] | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        def bad(message: str) -> DefinitionError:
            return DefinitionError(f"task '{task_id}': {message}", tasks=[task_id])

        if not isinstance(conn, str) or not conn:
            raise bad(f"email.send needs conn=, the id of an smtp:// connection, got {conn!r}")
        if not isinstance(subject, str) or not subject.strip():
            raise bad("email.send needs a subject")
        if body is None and html is None:
            raise bad("email.send needs body= (plain text), html= or both")
        for name, value in (("body", body), ("html", html)):
            if value is not None and not isinstance(value, str):
                raise bad(f"{name} must be a string, got {type(value).__name__}")
        try:
            self.to = parse_addresses(to, "to")
            self.cc = parse_addresses(cc, "cc") if cc else []
            self.bcc = parse_addresses(bcc, "bcc") if bcc else []
            self.sender = parse_addresses(sender, "sender", single=True)[0] if sender is not None else None
        except ConfigError as exc:
            raise bad(str(exc)) from None
        file_list = [files] if isinstance(files, str) else list(files or [])
        for item in file_list:
            if not isinstance(item, str) or not item:
                raise bad(f"files must be paths, got {item!r}")
        self.conn = conn
        self.subject = subject
        self.body = body
        self.html = html
        self.files = file_list
        super().__init__(task_id, **options)

    def describe(self) -> str:
        more = f" +{len(self.files)} file{'s' if len(self.files) != 1 else ''}" if self.files else ""
        return f"email {self.subject!r} to {', '.join(self.to)} via {self.conn}{more}"

    def execute(self, ctx: Context) -> dict[str, object]:
        settings = SmtpSettings.from_connection(ctx.connection(self.conn))
        sender = self.sender or settings.sender
        if not sender:
            raise ConfigError(f"task '{ctx.task_id}': no sender: set from=... on connection '{self.conn}' or sender=")
        message = self.build_message(ctx, sender)
        recipients = [*self.to, *self.cc, *self.bcc]
        refused = SmtpMailer(settings).send(message, recipients=recipients)
        delivered = [r for r in recipients if envelope_address(r) not in refused]
        subject = str(message["Subject"])
        ctx.log.info("sent email %r to %s via %s", subject, ", ".join(delivered), settings.where)
        for addr, reply in refused.items():
            ctx.log.warning("%s refused the recipient %s: %s", settings.where, addr, reply)
        return {"message_id": str(message["Message-ID"]), "subject": subject, "to": delivered, "refused": refused}

    def build_message(self, ctx: Context, sender: str) -> EmailMessage:
        """The email this task sends, templates rendered and files attached (their paths reported as reads)."""
        values = _template_values(ctx)
        message = EmailMessage()
        message["Subject"] = " ".join(_render(self.subject, values).split())
        message["From"] = sender
        message["To"] = ", ".join(self.to)
        if self.cc:
            message["Cc"] = ", ".join(self.cc)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = make_msgid(domain=envelope_address(sender).rpartition("@")[2] or None)
        text = _render(self.body, values) if self.body is not None else None
        markup = _render(self.html, values, escape=html.escape) if self.html is not None else None
        if text is not None:
            message.set_content(text)
            if markup is not None:
                message.add_alternative(markup, subtype="html")
        else:
            assert markup is not None
            message.set_content(markup, subtype="html")
        paths = [ctx.path(_render(f, values)) for f in self.files]
        for path in paths:
            _attach(message, path, ctx.task_id)
        if paths:
            ctx.report_lineage(reads=[p.resolve().as_uri() for p in paths])
        return message


def _template_values(ctx: Context) -> dict[str, object]:
    return {
        "pipeline_id": ctx.pipeline_id,
        "run_id": ctx.run_id,
        "task_id": ctx.task_id,
        "logical_date": ctx.logical_date.isoformat(),
        "ds": ctx.logical_date.date().isoformat(),
        "partition": ctx.partition or "",
        "try_number": ctx.try_number,
        "params": ctx.params,
        "upstream": ctx.upstream,
    }


def _render(template: str, values: Mapping[str, object], escape: Callable[[str], str] = str) -> str:
    """Replace the known placeholders; a missing ``params``/``upstream`` key fails the task (not retried)."""

    def substitute(match: re.Match[str]) -> str:
        name, key = match.group(1), match.group(2)
        if name not in values:
            return match.group(0)
        value = values[name]
        if key is not None:
            if not isinstance(value, Mapping):
                return match.group(0)
            if key not in value:
                known = ", ".join(sorted(map(str, value))) or "none"
                raise PermanentError(f"template placeholder {match.group(0)}: no {name} {key!r} (known: {known})")
            value = value[key]
        elif isinstance(value, Mapping):
            return match.group(0)
        return escape(str(value))

    return _PLACEHOLDER.sub(substitute, template)


def _attach(message: EmailMessage, path: Path, task_id: str) -> None:
    if not path.is_file():
        raise PermanentError(f"task '{task_id}': attachment {str(path)!r} does not exist or is not a file")
    ctype, encoding = mimetypes.guess_type(path.name)
    if ctype is None or encoding is not None:
        ctype = "application/octet-stream"
    maintype, _, subtype = ctype.partition("/")
    message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
