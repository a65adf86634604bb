"""Settings: ``headwater.toml`` or ``[tool.headwater]``, ``HEADWATER_ENV`` sections, ``HEADWATER_<KEY>``."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Required

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from typing_extensions import TypedDict

from headwater.config.root import find_root
from headwater.config.scheduler_settings import SchedulerSettings
from headwater.errors import ConfigError

DEFAULT_DB = "sqlite:///.headwater/headwater.db"


class PoolSetting(TypedDict, total=False):
    """A pool given as a table: ``api = {slots = 5, backfill_slots = 2}``."""

    slots: Required[int]
    backfill_slots: int


class Settings(BaseModel):
    """Everything configurable. Relative paths are relative to the project directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipelines: str = "pipelines"
    db: str = DEFAULT_DB
    executor: str = "local"
    concurrency: int = Field(default=16, ge=1)
    pools: dict[str, int | PoolSetting] = Field(default_factory=dict)
    logs: str = ".headwater/logs"
    results: str = ".headwater/results"
    alerting: bool = True
    notifier: str = "console"  # the older single-notifier form of ``notifiers``
    notifiers: list[str] = Field(default_factory=lambda: ["console"])
    notifier_options: dict[str, dict[str, object]] = Field(default_factory=dict)
    alert_on: list[str] | None = None  # alert kinds to deliver; None: every kind
    connections: dict[str, str] = Field(default_factory=dict)
    webhooks: dict[str, str] = Field(default_factory=dict)  # webhook name -> bearer token (masked in logs)
    env: dict[str, dict[str, object]] = Field(default_factory=dict)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)

    @field_validator("pools")
    @classmethod
    def _positive_pools(cls, pools: dict[str, int | PoolSetting]) -> dict[str, int | PoolSetting]:
        for name, value in pools.items():
            slots = value if isinstance(value, int) else value["slots"]
            if slots < 1:
                raise ValueError(f"pool {name!r} must have at least 1 slot, got {slots}")
            if not isinstance(value, int) and not 0 <= value.get("backfill_slots", 1) <= slots:
                raise ValueError(f"pool {name!r}: backfill_slots must be between 0 and slots ({slots})")
        return pools

    @field_validator("notifiers", "alert_on", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """``HEADWATER_NOTIFIERS=console,slack`` arrives as one string."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("notifiers")
    @classmethod
    def _notifier_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not name.strip():
                raise ValueError("notifier names must not be empty")
        return list(dict.fromkeys(names))

    @field_validator("alert_on")
    @classmethod
    def _alert_kinds(cls, kinds: list[str] | None) -> list[str] | None:
        from headwater.plugin.notifier import AlertKind

        known = {k.value for k in AlertKind}
        for kind in kinds or ():
            if kind not in known:
                raise ValueError(f"unknown alert kind {kind!r} (known: {', '.join(k.value for k in AlertKind)})")
        return kinds

    @model_validator(mode="after")
    def _one_notifier_form(self) -> Settings:
        both = {"notifier", "notifiers"} <= self.model_fields_set
        if both and self.notifier not in self.notifiers:
            raise ValueError(
                f"notifier = {self.notifier!r} is not in notifiers = {self.notifiers!r}: "
                "set only notifiers (notifier is the older single-name form)"
            )
        return self

    @property
    def alert_notifiers(self) -> list[str]:
        """The notifiers alerts go to: ``notifiers``, or ``[notifier]`` when only the older key is set."""
        if "notifier" in self.model_fields_set and "notifiers" not in self.model_fields_set:
            return [self.notifier]
        return list(self.notifiers)


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
    def results_url(self) -> str:
        """Where results go: a URL a result store plugin serves (``s3://...``) as given, else a local folder."""
        value = self.settings.results
        return value if "://" in value else str(self.path(value))

    @property
    def pipelines_dir(self) -> Path:
        return self.path(self.settings.pipelines)

    @property
    def state_dir(self) -> Path:
        return self.root / ".headwater"


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
        if name in ("env", "connections", "pools", "notifier_options", "scheduler", "webhooks"):
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
    from headwater.secrets import add_secret

    set_configured_connections(settings.connections)
    for token in settings.webhooks.values():
        add_secret(token)
    register_env_secrets(env)
    return Project(root, settings, str(source) if source else None)
