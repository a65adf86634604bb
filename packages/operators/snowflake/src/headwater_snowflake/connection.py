"""The ``snowflake`` connection type: ``snowflake://user:password@account/database/schema?warehouse=WH&role=R``.

Query options: ``warehouse``, ``role``, ``database`` and ``schema`` (instead of the path), ``authenticator``,
``private_key_file``, ``login_timeout`` and ``network_timeout`` (seconds), ``application``, and ``host``,
``port``, ``protocol`` to reach a server other than ``<account>.snowflakecomputing.com`` (a local stand-in).
The password is masked in every log line and error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from headwater import ConfigError
from headwater.plugin import add_secret

if TYPE_CHECKING:
    from snowflake.connector import SnowflakeConnection

    from headwater import Connection

SCHEMES = ("snowflake",)
_TEXT_OPTIONS = ("warehouse", "role", "database", "schema", "authenticator", "private_key_file", "application")
_INT_OPTIONS = ("login_timeout", "network_timeout", "port")
OPTIONS = (*_TEXT_OPTIONS, *_INT_OPTIONS, "host", "protocol")
_DOMAIN = ".snowflakecomputing.com"


@dataclass(frozen=True, slots=True)
class SnowflakeSettings:
    """Everything needed to open a Snowflake session, read from a connection URI (no I/O)."""

    conn_id: str
    account: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    schema: str | None = None
    warehouse: str | None = None
    role: str | None = None
    host: str | None = None
    port: int | None = None
    protocol: str | None = None
    authenticator: str | None = None
    private_key_file: str | None = None
    application: str | None = None
    login_timeout: int | None = None
    network_timeout: int | None = None

    @classmethod
    def from_connection(cls, conn: Connection) -> SnowflakeSettings:
        """Validate ``conn`` (a parsed ``snowflake://`` URI); ConfigError naming the connection if it is wrong."""
        where = f"snowflake connection {conn.conn_id!r}"
        if conn.scheme not in SCHEMES:
            raise ConfigError(f"{where}: expected a snowflake:// URI, got {conn.scheme}://")
        unknown = sorted(set(conn.extra) - set(OPTIONS))
        if unknown:
            raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)} (known: {', '.join(OPTIONS)})")
        account = (conn.host or "").removesuffix(_DOMAIN)
        if not account:
            raise ConfigError(f"{where}: the URI names no account (snowflake://user:password@ACCOUNT/database/schema)")
        path = [part for part in (conn.database or "").split("/") if part]
        if len(path) > 2:
            raise ConfigError(f"{where}: the URI path is /database/schema, got /{conn.database}")
        database = conn.extra.get("database") or (path[0] if path else None)
        schema = conn.extra.get("schema") or (path[1] if len(path) > 1 else None)
        protocol = conn.extra.get("protocol")
        if protocol is not None and protocol not in ("http", "https"):
            raise ConfigError(f"{where}: protocol: expected http or https, got {protocol!r}")
        add_secret(conn.password)
        return cls(
            conn_id=conn.conn_id,
            account=account,
            user=conn.login,
            password=conn.password,
            database=database,
            schema=schema,
            warehouse=conn.extra.get("warehouse"),
            role=conn.extra.get("role"),
            host=conn.extra.get("host"),
            port=_number(conn, "port", where) or (conn.port if conn.extra.get("host") else None),
            protocol=protocol,
            authenticator=conn.extra.get("authenticator"),
            private_key_file=conn.extra.get("private_key_file"),
            application=conn.extra.get("application"),
            login_timeout=_number(conn, "login_timeout", where),
            network_timeout=_number(conn, "network_timeout", where),
        )

    @property
    def location(self) -> str:
        """The server the connector talks to: ``https://<account>.snowflakecomputing.com`` or the host given."""
        if self.host:
            return f"{self.protocol or 'https'}://{self.host}{f':{self.port}' if self.port else ''}"
        return f"https://{self.account}{_DOMAIN}"

    def describe(self) -> str:
        """Where the connection goes, for a log line (never the password)."""
        parts = [f"account {self.account}"]
        if self.host:
            parts.append(f"at {self.location}")
        if self.user:
            parts.append(f"as {self.user}")
        if self.database:
            parts.append(f"database {self.database}{f'.{self.schema}' if self.schema else ''}")
        if self.warehouse:
            parts.append(f"warehouse {self.warehouse}")
        if self.role:
            parts.append(f"role {self.role}")
        return ", ".join(parts)

    def connect_kwargs(self, *, query_tag: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``snowflake.connector.connect``: binds are ``?``/``:1`` (bound by Snowflake)."""
        kwargs: dict[str, Any] = {"account": self.account, "paramstyle": "qmark", "application": "headwater"}
        for key in ("user", "password", "database", "schema", "warehouse", "role", "host", "port", "protocol"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        for key in ("authenticator", "private_key_file", "application", "login_timeout", "network_timeout"):
            value = getattr(self, key)
            if value is not None:
                kwargs[key] = value
        if query_tag:
            kwargs["session_parameters"] = {"QUERY_TAG": query_tag}
        return kwargs


def _number(conn: Connection, key: str, where: str) -> int | None:
    raw = conn.extra.get(key)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{where}: {key}: expected a whole number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{where}: {key}: expected a number greater than 0, got {raw!r}")
    return value


def open_connection(settings: SnowflakeSettings, *, query_tag: str | None = None) -> SnowflakeConnection:
    """A connector connection for ``settings``; SnowflakeError (refused) or SnowflakeUnavailable (unreachable)."""
    import snowflake.connector

    from headwater_snowflake.errors import connect_error

    try:
        return snowflake.connector.connect(**settings.connect_kwargs(query_tag=query_tag))
    except snowflake.connector.Error as exc:
        raise connect_error(settings.conn_id, exc, settings.location) from None
    except OSError as exc:
        raise connect_error(settings.conn_id, exc, settings.location) from None


def connect(conn: Connection) -> SnowflakeConnection:
    """The ``snowflake`` connection type: ``ctx.client("warehouse")`` returns a connector connection (close it)."""
    return open_connection(SnowflakeSettings.from_connection(conn))
