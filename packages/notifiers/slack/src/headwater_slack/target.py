"""Where Slack messages go: the Web API (a token and a channel) or an incoming webhook, resolved from options,
a connection or the environment, with every credential registered as a secret."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from headwater import ConfigError, Connection, get_connection
from headwater.secrets import add_secret

DEFAULT_CONN = "slack"
CONN_ENV = "HEADWATER_CONN_SLACK"
DEFAULT_BASE_URL = "https://slack.com/api/"
TOKEN_ENV = "SLACK_BOT_TOKEN"  # noqa: S105 - the name of a variable, not a token
WEBHOOK_ENV = "SLACK_WEBHOOK_URL"
WEBHOOK_SCHEMES = ("slack+webhook", "http", "https")
URI_HELP = (
    "slack://:xoxb-TOKEN@/?channel=%23alerts (Web API) or slack+webhook://hooks.slack.com/services/T/B/X (webhook)"
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SlackTarget:
    """A resolved destination. ``where`` names its source (a connection id, an env var), never a credential."""

    where: str
    token: str | None = field(default=None, repr=False)
    channel: str | None = None
    base_url: str = DEFAULT_BASE_URL
    webhook_url: str | None = field(default=None, repr=False)

    @property
    def is_webhook(self) -> bool:
        return self.webhook_url is not None

    @property
    def host(self) -> str:
        """The host messages are posted to (safe to print)."""
        return urlsplit(self.webhook_url or self.base_url).netloc.rsplit("@", 1)[-1] or "?"

    def describe(self) -> str:
        """``#alerts via connection 'slack'`` / ``the webhook of connection 'hooks'``."""
        if self.is_webhook:
            return f"the webhook of {self.where}"
        return f"{self.channel} via {self.where}"


def _secret_webhook(url: str) -> str:
    """Register a webhook URL, its path and its last segment as secrets (the path is the credential)."""
    add_secret(url)
    path = urlsplit(url).path.strip("/")
    add_secret(path)
    add_secret(path.rsplit("/", 1)[-1])
    return url


def _secret_token(token: str) -> str:
    add_secret(token)
    return token


def _checked_channel(channel: str | None, where: str) -> str:
    if not channel:
        raise ConfigError(
            f'slack: {where} posts through the Web API and needs a channel: set channel = "#alerts" '
            "(or ?channel=%23alerts in the connection URI)"
        )
    return channel


def from_connection(conn: Connection, *, channel: str | None = None, need_channel: bool = True) -> SlackTarget:
    """The target a ``slack://`` or ``slack+webhook://`` connection describes (``channel`` overrides its own)."""
    where = f"connection {conn.conn_id!r}"
    tls = conn.extra.get("tls", "true").lower() not in ("false", "0", "no")
    scheme = "https" if tls else "http"
    netloc = (conn.host or "") + (f":{conn.port}" if conn.port else "")
    if conn.scheme == "slack":
        token = conn.password or conn.login
        if not token:
            raise ConfigError(f"slack: {where} has no token: use {URI_HELP}")
        base_url = DEFAULT_BASE_URL
        if conn.host:
            path = conn.database or "api/"
            base_url = f"{scheme}://{netloc}/{quote(path.strip('/'))}/"
        return SlackTarget(
            where=where,
            token=_secret_token(token),
            channel=(
                _checked_channel(channel or conn.extra.get("channel"), where)
                if need_channel
                else channel or conn.extra.get("channel")
            ),
            base_url=base_url,
        )
    if conn.scheme in WEBHOOK_SCHEMES:
        if not conn.host:
            raise ConfigError(f"slack: {where} has no webhook host: use {URI_HELP}")
        url = f"{scheme}://{netloc}/{quote(conn.database or '')}" if conn.scheme == "slack+webhook" else conn.uri
        return SlackTarget(where=where, webhook_url=_secret_webhook(url), channel=channel)
    raise ConfigError(f"slack: {where} has the scheme {conn.scheme!r}; expected {URI_HELP}")


def resolve(
    *,
    conn: str | None = None,
    token: str | None = None,
    channel: str | None = None,
    webhook_url: str | None = None,
    base_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> SlackTarget:
    """The target from explicit options, else the connection ``conn`` (default ``slack`` when configured),
    else ``SLACK_BOT_TOKEN`` / ``SLACK_WEBHOOK_URL``. ConfigError says what to set when nothing is."""
    env = os.environ if environ is None else environ
    api = base_url or DEFAULT_BASE_URL
    if not api.endswith("/"):
        api += "/"
    if webhook_url:
        return SlackTarget(where="the webhook_url option", webhook_url=_secret_webhook(webhook_url), channel=channel)
    if token:
        where = "the token option"
        return SlackTarget(
            where=where, token=_secret_token(token), channel=_checked_channel(channel, where), base_url=api
        )
    if conn is not None:
        return from_connection(get_connection(conn), channel=channel)
    if env.get(CONN_ENV):  # set but malformed: say so rather than fall back
        return from_connection(get_connection(DEFAULT_CONN), channel=channel)
    try:
        found = get_connection(DEFAULT_CONN)  # from the config file (validated when it was loaded)
    except ConfigError:
        pass
    else:
        return from_connection(found, channel=channel)
    if env.get(TOKEN_ENV):
        where = TOKEN_ENV
        return SlackTarget(
            where=where, token=_secret_token(env[TOKEN_ENV]), channel=_checked_channel(channel, where), base_url=api
        )
    if env.get(WEBHOOK_ENV):
        return SlackTarget(where=WEBHOOK_ENV, webhook_url=_secret_webhook(env[WEBHOOK_ENV]), channel=channel)
    raise ConfigError(
        "slack: no Slack credentials: set HEADWATER_CONN_SLACK="
        + URI_HELP
        + f", or {TOKEN_ENV} (with channel), or {WEBHOOK_ENV}, or the webhook_url option"
    )
