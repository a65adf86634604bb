"""Settings: ``headwater.toml`` or ``[tool.headwater]``, ``HEADWATER_ENV`` sections, ``HEADWATER_<KEY>``."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from headwater.errors import ConfigError

CONFIG_FILE = "headwater.toml"
DEFAULT_DB = "sqlite:///.headwater/headwater.db"


class Settings(BaseModel):
    """Everything configurable. Relative paths are relative to the project directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipelines: str = "pipelines"
    db: str = DEFAULT_DB
    executor: str = "local"
    concurrency: int = Field(default=16, ge=1)
    pools: dict[str, int] = Field(default_factory=dict)
    logs: str = ".headwater/logs"
    results: str = ".headwater/results"
    alerting: bool = True
    notifier: str = "console"
    connections: dict[str, str] = Field(default_factory=dict)
    env: dict[str, dict[str, object]] = Field(default_factory=dict)

    @field_validator("pools")
    @classmethod
    def _positive_pools(cls, pools: dict[str, int]) -> dict[str, int]:
        for name, slots in pools.items():
            if slots < 1:
                raise ValueError(f"pool {name!r} must have at least 1 slot, got {slots}")
        return pools


class Project:
    """A project directory and its resolved settings."""

    def __init__(self, root: Path, settings: Settings, source: str | None) -> None:
        self.root = root
        self.settings = settings
        self.source = source  # the file the settings came from, if any

    def path(self, value: str) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def pipelines_dir(self) -> Path:
        return self.path(self.settings.pipelines)

    @property
    def state_dir(self) -> Path:
        return self.root / ".headwater"


def find_root(start: Path) -> tuple[Path, Path | None]:
    """The nearest directory (from ``start`` up) with headwater.toml or [tool.headwater]."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return directory, candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and "[tool.headwater" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return directory, pyproject
    return start, None


def _read(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    if path.name == "pyproject.toml":
        tool = data.get("tool", {})
        data = tool.get("headwater", {}) if isinstance(tool, dict) else {}
    return data


def _env_overrides(environ: Mapping[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name in Settings.model_fields:
        if name in ("env", "connections", "pools"):
            continue
        value = environ.get(f"HEADWATER_{name.upper()}")
        if value is not None:
            out[name] = value
    return out


def load_project(start: Path | None = None, environ: Mapping[str, str] | None = None) -> Project:
    """Find the project from ``start`` (default: the working directory) and load its settings."""
    env = os.environ if environ is None else environ
    root, source = find_root((start or Path.cwd()).resolve())
    data: dict[str, object] = _read(source) if source else {}
    where = str(source) if source else "settings"
    section = env.get("HEADWATER_ENV")
    if section:
        sections = data.get("env", {})
        if not isinstance(sections, dict) or section not in sections:
            known = ", ".join(sorted(sections)) if isinstance(sections, dict) and sections else "none"
            raise ConfigError(f"HEADWATER_ENV={section!r}: no [env.{section}] section in {where} (known: {known})")
        data = {**data, **sections[section]}
    data.update(_env_overrides(env))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{where}: {problems}") from None
    from headwater.config.connections import register_env_secrets, set_configured_connections

    set_configured_connections(settings.connections)
    register_env_secrets(env)
    return Project(root, settings, str(source) if source else None)
