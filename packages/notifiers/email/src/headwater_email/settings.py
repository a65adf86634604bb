"""Where and how to send mail: an SMTP server's settings, from a connection URI and/or options."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import TYPE_CHECKING, Any, Literal

from headwater.plugin import ConfigError
from headwater.secrets import add_secret

if TYPE_CHECKING:
    from headwater import Connection

Security = Literal["none", "starttls", "ssl"]

SCHEMES = ("smtp", "smtps")
#: query parameters a connection URI may carry: ``smtp://user:pass@host:587?starttls=true&from=...``
URI_OPTIONS = ("starttls", "ssl", "from", "timeout", "ca_file")
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, kw_only=True, slots=True)
class SmtpSettings:
    """An SMTP server and how to talk to it. The password is masked everywhere and never shown.

    ``security``: ``"starttls"`` (upgrade a plain connection, usually port 587), ``"ssl"``
    (implicit TLS, ``smtps://``, usually port 465) or ``"none"``. ``ca_file`` names the CA
    certificates that sign the server's certificate when it is not in the system's store.
    """

    host: str
    port: int
    security: Security = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    ca_file: str | None = None
    conn_id: str | None = None

    def __post_init__(self) -> None:
        add_secret(self.password)

    @property
    def where(self) -> str:
        """``SMTP server mail.example.com:587 (connection 'mail')``: for error messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"SMTP server {host}:{self.port}"
        return text + (f" (connection '{self.conn_id}')" if self.conn_id else "")

    @classmethod
    def from_connection(cls, conn: Connection) -> SmtpSettings:
        """Settings from ``smtp://user:pass@host:587?starttls=true&from=alerts@example.com`` (or ``smtps://``)."""
        what = f"connection '{conn.conn_id}'"
        if conn.scheme not in SCHEMES:
            raise ConfigError(
                f"{what} is a {conn.scheme}:// connection; email needs smtp://user:pass@host:587?starttls=true"
                "&from=... or smtps://user:pass@host:465?from=..."
            )
        unknown = sorted(set(conn.extra) - set(URI_OPTIONS))
        if unknown:
            raise ConfigError(f"{what}: unknown URI option {unknown[0]!r} (known: {', '.join(URI_OPTIONS)})")
        if not conn.host:
            raise ConfigError(f"{what}: the URI names no host (smtp://user:pass@HOST:587?...)")
        extra = conn.extra
        ssl = conn.scheme == "smtps" or _flag(extra.get("ssl"), f"{what}: ssl")
        starttls = _flag(extra.get("starttls"), f"{what}: starttls")
        return build_settings(
            what=what,
            host=conn.host,
            port=conn.port,
            ssl=ssl,
            starttls=starttls,
            username=conn.login,
            password=conn.password,
            sender=extra.get("from"),
            timeout=extra.get("timeout"),
            ca_file=extra.get("ca_file"),
            conn_id=conn.conn_id,
        )

    def with_overrides(self, *, what: str, **values: object) -> SmtpSettings:
        """A copy where each option given (not None) replaces the connection's value (the port stays unless given)."""
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            return self
        merged: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "ssl": self.security == "ssl",
            "starttls": self.security == "starttls",
            "username": self.username,
            "password": self.password,
            "sender": self.sender,
            "timeout": self.timeout,
            "ca_file": self.ca_file,
        }
        merged.update(given)
        # switching on one kind of TLS switches off the other, unless both were given
        if _flag(given.get("ssl"), f"{what}: ssl") and "starttls" not in given:
            merged["starttls"] = False
        if _flag(given.get("starttls"), f"{what}: starttls") and "ssl" not in given:
            merged["ssl"] = False
        return build_settings(what=what, conn_id=self.conn_id, **merged)


def build_settings(
    *,
    what: str,
    host: object,
    port: object = None,
    ssl: object = False,
    starttls: object = False,
    username: object = None,
    password: object = None,
    sender: object = None,
    timeout: object = None,
    ca_file: object = None,
    conn_id: str | None = None,
) -> SmtpSettings:
    """Validate loose values (from TOML options or a URI) into :class:`SmtpSettings`; ConfigError names the bad one."""
    if not isinstance(host, str) or not host.strip():
        raise ConfigError(f"{what}: 'host' must be the SMTP server's name, got {host!r}")
    use_ssl = _flag(ssl, f"{what}: ssl")
    use_starttls = _flag(starttls, f"{what}: starttls")
    if use_ssl and use_starttls:
        raise ConfigError(f"{what}: choose one of ssl (implicit TLS, port 465) and starttls (port 587), not both")
    security: Security = "ssl" if use_ssl else "starttls" if use_starttls else "none"
    if port is None:
        port_number = {"ssl": 465, "starttls": 587, "none": 25}[security]
    else:
        port_number = _int(port, f"{what}: port")
        if not 0 < port_number < 65536:
            raise ConfigError(f"{what}: port must be between 1 and 65535, got {port!r}")
    for name, value in (("username", username), ("password", password), ("ca_file", ca_file)):
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{what}: {name!r} must be a string")
    assert username is None or isinstance(username, str)
    assert password is None or isinstance(password, str)
    assert ca_file is None or isinstance(ca_file, str)
    add_secret(password)
    if password and not username:
        raise ConfigError(f"{what}: a password is set but no username to log in with")
    if username and security == "none" and not _is_loopback(host):
        raise ConfigError(
            f"{what}: refusing to send the login for {username!r} to {host} unencrypted: "
            "set starttls=true (port 587) or use ssl / smtps:// (port 465)"
        )
    sender_address = None if sender is None else parse_addresses(sender, f"{what}: from", single=True)[0]
    seconds = DEFAULT_TIMEOUT if timeout is None else _float(timeout, f"{what}: timeout")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{what}: timeout must be a number of seconds greater than 0, got {timeout!r}")
    return SmtpSettings(
        host=host.strip(),
        port=port_number,
        security=security,
        username=username or None,
        password=password or None,
        sender=sender_address,
        timeout=seconds,
        ca_file=ca_file or None,
        conn_id=conn_id,
    )


def parse_addresses(value: object, what: str, *, single: bool = False) -> list[str]:
    """Addresses from ``"a@x.com, Data Team <b@x.com>"`` or a list of them; ConfigError if one is malformed."""
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        items = list(value)
    else:
        raise ConfigError(f"{what}: expected an email address or a list of them, got {value!r}")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(f"{what}: expected an email address, got {item!r}")
        if "\n" in item or "\r" in item:
            raise ConfigError(f"{what}: an address must not contain a line break: {item!r}")
        parsed = getaddresses([item])
        for name, addr in parsed:
            if not addr:
                continue
            local, at, domain = addr.rpartition("@")
            if not at or not local or not domain or " " in addr:
                raise ConfigError(f"{what}: {item.strip()!r} is not an email address (like alerts@example.com)")
            out.append(f"{name} <{addr}>" if name else addr)
    if not out:
        raise ConfigError(f"{what}: no email address given")
    if single and len(out) > 1:
        raise ConfigError(f"{what}: expected one email address, got {len(out)}")
    return out


def envelope_address(address: str) -> str:
    """The bare ``a@x.com`` of ``"Data Team <a@x.com>"`` (what the SMTP envelope needs)."""
    return getaddresses([address])[0][1]


def _flag(value: object, what: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "on", "false", "0", "no", "off", ""):
        return value.strip().lower() in ("true", "1", "yes", "on")
    raise ConfigError(f"{what}: expected true or false, got {value!r}")


def _int(value: object, what: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ConfigError(f"{what}: expected a whole number, got {value!r}")


def _float(value: object, what: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{what}: expected a number, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ConfigError(f"{what}: expected a number, got {value!r}")


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
