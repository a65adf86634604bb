"""Where the dbt profile comes from, a profile built from a Headwater connection, and masking its secrets."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.plugin import add_secret
from headwater_dbt.errors import DbtProjectError

if TYPE_CHECKING:
    from headwater import Connection

PROFILES_FILE = "profiles.yml"
#: the target name of a profile built from ``conn=`` (unless ``target=`` names another)
CONNECTION_TARGET = "headwater"
_SECRET_KEY = re.compile(r"pass|secret|token|private_key|keyfile|credential", re.IGNORECASE)
_ENV_VAR = re.compile(r"""env_var\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]*)['"])?""")
#: URI schemes whose dbt adapter calls the database ``dbname``
_DBNAME_SCHEMES = {"postgres": "postgres", "postgresql": "postgres", "redshift": "redshift"}


def project_file(project_dir: Path) -> Path:
    """``project_dir/dbt_project.yml``; DbtProjectError when it is not there."""
    path = project_dir / "dbt_project.yml"
    if not path.is_file():
        reason = "does not exist" if not project_dir.exists() else "has no dbt_project.yml"
        raise DbtProjectError(f"dbt project not found: {project_dir} {reason} (project_dir must be a dbt project)")
    return path


def project_profile_name(project_dir: Path) -> str:
    """The ``profile:`` that ``dbt_project.yml`` names."""
    import yaml

    try:
        data = yaml.safe_load(project_file(project_dir).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DbtProjectError(f"cannot read {project_dir / 'dbt_project.yml'}: {exc}") from None
    name = data.get("profile") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name:
        raise DbtProjectError(f"{project_dir / 'dbt_project.yml'} names no profile (add `profile: <name>`)")
    return name


def resolve_profiles_dir(project_dir: Path, profiles_dir: str | Path | None) -> Path | None:
    """The profiles directory dbt should use: the one given, else the project's own ``profiles.yml``.

    None lets dbt decide (``DBT_PROFILES_DIR``, the working directory, ``~/.dbt``).
    """
    if profiles_dir is not None:
        return Path(profiles_dir).expanduser().resolve()
    if not os.environ.get("DBT_PROFILES_DIR") and (project_dir / PROFILES_FILE).is_file():
        return project_dir
    return None


def _profiles_file(profiles_dir: Path | None) -> Path:
    if profiles_dir is not None:
        return profiles_dir / PROFILES_FILE
    env = os.environ.get("DBT_PROFILES_DIR")
    if env:
        return Path(env).expanduser() / PROFILES_FILE
    cwd = Path.cwd() / PROFILES_FILE
    return cwd if cwd.is_file() else Path.home() / ".dbt" / PROFILES_FILE


def mask_profile_secrets(profiles_dir: Path | None) -> None:
    """Register every password, token and key of the profiles file dbt will read as a secret to mask.

    Values written as ``{{ env_var('NAME') }}`` register the variable's value. A file that cannot
    be read is left to dbt to report.
    """
    import yaml

    path = _profiles_file(profiles_dir)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return
    for value in _secret_values(data, secret=False):
        add_secret(value)
        for name, default in _ENV_VAR.findall(value):
            add_secret(os.environ.get(name))
            add_secret(default or None)


def _secret_values(data: object, *, secret: bool) -> Iterator[str]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _secret_values(value, secret=secret or bool(_SECRET_KEY.search(str(key))))
    elif isinstance(data, list):
        for item in data:
            yield from _secret_values(item, secret=secret)
    elif isinstance(data, str) and (secret or ("env_var(" in data and _SECRET_KEY.search(data))):
        yield data
    elif secret and isinstance(data, int | float) and not isinstance(data, bool):
        yield str(data)  # an unquoted numeric password


def _coerce(value: str) -> object:
    if value.isdigit():
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def connection_output(conn: Connection) -> dict[str, object]:
    """A dbt target (``outputs:`` entry) from a Headwater connection.

    ``postgres://user:pw@host:5432/analytics?schema=dbt&threads=4`` gives ``type: postgres``,
    host, port, user, password, ``dbname``, and every query parameter as a field (``schema`` defaults
    to ``public``, ``threads`` to 4). Other schemes become ``type: <scheme>`` with ``database``.
    """
    adapter = _DBNAME_SCHEMES.get(conn.scheme, conn.scheme)
    out: dict[str, object] = {"type": adapter}
    if conn.host:
        out["host"] = conn.host
    if conn.port:
        out["port"] = conn.port
    elif adapter == "postgres":
        out["port"] = 5432
    if conn.login:
        out["user"] = conn.login
    if conn.password is not None:
        out["password"] = conn.password
    if conn.database:
        out["dbname" if conn.scheme in _DBNAME_SCHEMES else "database"] = conn.database
    if adapter == "postgres":
        out["schema"] = "public"
    out["threads"] = 4
    out.update({key: _coerce(value) for key, value in conn.extra.items()})
    return out


def write_connection_profile(directory: Path, profile: str, target: str, conn: Connection) -> None:
    """Write ``directory/profiles.yml`` with one profile whose only target is built from ``conn`` (mode 600)."""
    content = {profile: {"target": target, "outputs": {target: connection_output(conn)}}}
    path = directory / PROFILES_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(content, handle)  # JSON is YAML
