"""Connections come from ``HEADWATER_CONN_<ID>`` URIs or the ``[connections]`` config, never from code."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from headwater.errors import ConfigError, DefinitionError
from headwater.secrets import add_secret, mask

ENV_PREFIX = "HEADWATER_CONN_"


@dataclass(frozen=True, slots=True)
class Connection:
    """A parsed connection URI: ``scheme://login:password@host:port/database?key=value``.

    Its password is registered as a secret, so it is masked in every log line.
    """

    conn_id: str
    scheme: str
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)
    uri: str = field(default="", repr=False)

    @classmethod
    def from_uri(cls, conn_id: str, uri: str) -> Connection:
        try:
            parts = urlsplit(uri)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"connection {conn_id!r}: cannot read the URI {mask(uri)!r}: {exc}") from None
        if not parts.scheme:
            raise ConfigError(f"connection {conn_id!r}: the URI {mask(uri)!r} has no scheme (like postgres://)")
        password = unquote(parts.password) if parts.password else None
        add_secret(password)
        return cls(
            conn_id=conn_id,
            scheme=parts.scheme,
            host=parts.hostname,
            port=port,
            login=unquote(parts.username) if parts.username else None,
            password=password,
            database=unquote(parts.path.lstrip("/")) or None,
            extra=dict(parse_qsl(parts.query)),
            uri=uri,
        )


_configured: dict[str, str] = {}


def set_configured_connections(connections: Mapping[str, str]) -> None:
    """Connections from the config file (set when the config is loaded); their secrets are masked."""
    _configured.clear()
    _configured.update(connections)
    for conn_id, uri in connections.items():
        Connection.from_uri(conn_id, uri)


def register_env_secrets(environ: Mapping[str, str] | None = None) -> None:
    """Mask the passwords of every ``HEADWATER_CONN_*`` variable up front."""
    env = os.environ if environ is None else environ
    for key, value in env.items():
        if key.startswith(ENV_PREFIX):
            try:
                Connection.from_uri(key[len(ENV_PREFIX) :].lower(), value)
            except ConfigError:
                add_secret(value)


def get_connection(conn_id: str) -> Connection:
    """The connection ``conn_id`` (environment first, then config); ConfigError if it is not defined."""
    env_key = ENV_PREFIX + conn_id.upper().replace("-", "_").replace(".", "_")
    uri = os.environ.get(env_key) or _configured.get(conn_id)
    if uri is None:
        raise ConfigError(
            f"connection {conn_id!r} is not defined: set {env_key}=scheme://... "
            "or add it under [connections] in headwater.toml"
        )
    return Connection.from_uri(conn_id, uri)


def check_conn(conn: object, task_id: str | None = None, *, where: str | None = None) -> str:
    """``conn`` if it is a connection id (a non-empty string); DefinitionError naming the task (or ``where``)."""
    if not isinstance(conn, str) or not conn.strip():
        prefix = where if where is not None else f"task '{task_id}'" if task_id is not None else None
        message = f"conn: expected a connection id (a [connections] name or HEADWATER_CONN_<ID>), got {conn!r}"
        raise DefinitionError(
            f"{prefix}: {message}" if prefix else message, tasks=[task_id] if task_id is not None else ()
        )
    return conn


def connection_client(conn: Connection) -> object:
    """A client for ``conn`` built by the plugin that registered its URI scheme as a connection type."""
    from headwater.plugin.manager import Kind, get_manager

    factory = get_manager().resolve(Kind.CONNECTION_TYPE, conn.scheme)
    if not callable(factory):
        raise ConfigError(f"connection type {conn.scheme!r} is not callable")
    return factory(conn)
