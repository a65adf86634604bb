"""Find plugins through the ``headwater`` entry-point group, once and lazily; resolve registrations.

Each entry point is loaded on its own: a broken plugin is recorded and reported
(``headwater plugins``), never fatal. ``HEADWATER_DISABLE_PLUGINS=name,name``
blocks plugins by entry-point name. Hooks are only called through
:class:`PluginManager`'s typed methods.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

import pluggy

from headwater.errors import DefinitionError, PluginError
from headwater.plugin import spec

ENTRY_POINT_GROUP = "headwater"
DISABLE_ENV = "HEADWATER_DISABLE_PLUGINS"

T = TypeVar("T")


class Kind(StrEnum):
    """What a plugin can register."""

    EXECUTOR = "executor"
    OPERATOR = "operator"
    SENSOR = "sensor"
    NOTIFIER = "notifier"
    CONNECTION_TYPE = "connection_type"
    RESULT_STORE = "result_store"
    EVENT_SOURCE = "event_source"


_HOOKS: dict[Kind, str] = {
    Kind.EXECUTOR: "headwater_register_executors",
    Kind.OPERATOR: "headwater_register_operators",
    Kind.SENSOR: "headwater_register_sensors",
    Kind.NOTIFIER: "headwater_register_notifiers",
    Kind.CONNECTION_TYPE: "headwater_register_connection_types",
    Kind.RESULT_STORE: "headwater_register_result_stores",
    Kind.EVENT_SOURCE: "headwater_register_event_sources",
}

#: Where shipped names come from, for "install X" hints when they are missing.
KNOWN_PROVIDERS: dict[tuple[Kind, str], str] = {
    (Kind.EXECUTOR, "local"): "headwater-local",
    (Kind.EXECUTOR, "process"): "headwater-process",
    (Kind.EXECUTOR, "container"): "headwater-container",
    (Kind.EXECUTOR, "celery"): "headwater-celery",
    (Kind.NOTIFIER, "slack"): "headwater-slack",
    (Kind.NOTIFIER, "email"): "headwater-email",
    (Kind.RESULT_STORE, "s3"): "headwater-s3",
    (Kind.EVENT_SOURCE, "s3"): "headwater-s3",
}
_PROVIDER_PREFIXES = {
    "postgres.": "headwater-postgres",
    "sql.": "headwater-postgres",
    "s3.": "headwater-s3",
    "http.": "headwater-http",
    "dbt.": "headwater-dbt",
    "snowflake.": "headwater-snowflake",
    "slack.": "headwater-slack",
    "email.": "headwater-email",
}


def provider_hint(kind: Kind, name: str) -> str | None:
    """The distribution known to provide ``name``, if any."""
    if (kind, name) in KNOWN_PROVIDERS:
        return KNOWN_PROVIDERS[(kind, name)]
    for prefix, dist in _PROVIDER_PREFIXES.items():
        if name.startswith(prefix):
            return dist
    return None


@dataclass(frozen=True, slots=True)
class Registration:
    """One name a plugin registered: what kind, where it lives, and who registered it."""

    kind: Kind
    name: str
    target: str
    plugin: str


@dataclass(slots=True)
class PluginInfo:
    """A discovered plugin: its entry-point name, distribution, version and what it registered."""

    name: str
    dist: str
    version: str
    module: str
    error: str | None = None
    disabled: bool = False
    registrations: list[Registration] = field(default_factory=list)


class PluginManager:
    """Loads plugins once and answers "what provides X?" through typed methods."""

    def __init__(self, *, entry_points: bool = True) -> None:
        self._pm = pluggy.PluginManager(spec.PROJECT)
        self._pm.add_hookspecs(spec)
        self._use_entry_points = entry_points
        self._plugins: dict[str, PluginInfo] = {}
        self._registry: dict[Kind, dict[str, Registration]] = {}
        self._resolved: dict[tuple[Kind, str], object] = {}
        self._loaded = False
        self._lock = threading.RLock()

    # -- loading -------------------------------------------------------------------
    def register_module(self, module: object, *, name: str, dist: str = "", version: str = "") -> None:
        """Register a plugin object directly (the core's builtins; tests)."""
        with self._lock:
            self._plugins[name] = PluginInfo(
                name=name, dist=dist, version=version, module=getattr(module, "__name__", name)
            )
            self._pm.register(module, name=name)
            self._check_hook_names(name, module)
            self._registry.clear()

    def load(self) -> None:
        """Discover plugins (once). Safe to call many times."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            from headwater import _version
            from headwater.builtins import plugin as builtins

            if "headwater" not in self._plugins:
                self.register_module(builtins, name="headwater", dist="headwater", version=_version.__version__)
            if self._use_entry_points:
                self._load_entry_points()

    def _load_entry_points(self) -> None:
        from importlib.metadata import entry_points

        blocked = {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in self._plugins:
                continue
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            info = PluginInfo(name=ep.name, dist=dist, version=version, module=ep.value)
            self._plugins[ep.name] = info
            if ep.name in blocked:
                info.disabled = True
                continue
            try:
                module = ep.load()
                self._pm.register(module, name=ep.name)
            except Exception as exc:  # a broken plugin must not break the others
                info.error = f"{type(exc).__name__}: {exc}"
                continue
            self._check_hook_names(ep.name, module)

    # -- registrations -------------------------------------------------------------
    def _collect(self, kind: Kind) -> dict[str, Registration]:
        self.load()
        with self._lock:
            if kind in self._registry:
                return self._registry[kind]
            found: dict[str, Registration] = {}
            hook = getattr(self._pm.hook, _HOOKS[kind])
            for impl in reversed(hook.get_hookimpls()):  # pluggy calls last-registered first
                plugin_name = self._pm.get_name(impl.plugin) or "?"
                pending: dict[str, Registration] = {}

                def register(
                    name: str, target: str, /, _p: str = plugin_name, _into: dict[str, Registration] = pending
                ) -> None:
                    if not isinstance(name, str) or not isinstance(target, str) or ":" not in target:
                        raise PluginError(f"registered {name!r} -> {target!r}: expected a name and 'module:attr'")
                    _into[name] = Registration(kind=kind, name=name, target=target, plugin=_p)

                try:
                    impl.function(register=register)
                except Exception as exc:  # a hook that fails registers nothing at all
                    self._record_error(plugin_name, f"{_HOOKS[kind]} failed: {type(exc).__name__}: {exc}")
                    continue
                found.update(pending)
            for reg in found.values():
                info = self._plugins.get(reg.plugin)
                if info is not None and reg not in info.registrations:
                    info.registrations.append(reg)
            self._registry[kind] = found
            return found

    def _record_error(self, plugin_name: str, message: str) -> None:
        info = self._plugins.get(plugin_name)
        if info is not None:
            info.error = message if info.error is None else f"{info.error}; {message}"

    def _check_hook_names(self, plugin_name: str, module: object) -> None:
        """A misspelled hook would silently do nothing: report it as the plugin's error."""
        for attr in dir(module):
            if attr.startswith("headwater_") and callable(getattr(module, attr)) and not hasattr(spec, attr):
                self._record_error(plugin_name, f"unknown hook {attr!r} (see headwater.plugin.spec)")

    def names(self, kind: Kind) -> list[str]:
        """Every registered name of ``kind``, sorted."""
        return sorted(self._collect(kind))

    def registration(self, kind: Kind, name: str) -> Registration:
        """The registration for ``name``; raise DefinitionError with an install hint if none."""
        regs = self._collect(kind)
        if name in regs:
            return regs[name]
        hint = provider_hint(kind, name)
        known = ", ".join(sorted(regs)) or "none"
        label = kind.value.replace("_", " ")
        message = f"no installed plugin provides the {label} {name!r}"
        if hint:
            message += f" (it comes with the '{hint}' package: pip install {hint})"
        message += f"; installed {label}s: {known}"
        raise DefinitionError(message)

    def resolve(self, kind: Kind, name: str) -> object:
        """Import and return what ``name`` refers to (cached)."""
        key = (kind, name)
        if key not in self._resolved:
            reg = self.registration(kind, name)
            self._resolved[key] = import_target(reg.target, what=f"{kind.value} {name!r} of plugin {reg.plugin!r}")
        return self._resolved[key]

    def resolve_class(self, kind: Kind, name: str, base: type[T]) -> type[T]:
        """Like :meth:`resolve`, for registrations that must be subclasses of ``base``."""
        obj = self.resolve(kind, name)
        if not (isinstance(obj, type) and issubclass(obj, base)):
            reg = self.registration(kind, name)
            raise PluginError(
                f"{kind.value} {name!r} of plugin {reg.plugin!r} ({reg.target}) is not a {base.__name__} subclass"
            )
        return obj

    def plugins(self) -> list[PluginInfo]:
        """Every discovered plugin with what it registered (collects all kinds)."""
        for kind in Kind:
            self._collect(kind)
        return sorted(self._plugins.values(), key=lambda p: (p.name != "headwater", p.name))

    def call_hook(self, hook_name: str, **kwargs: object) -> list[object]:
        """Call a non-registration hook by name (for hooks added by later capabilities)."""
        self.load()
        hook: Callable[..., list[object]] = getattr(self._pm.hook, hook_name)
        return hook(**kwargs)


def import_target(target: str, *, what: str) -> object:
    """Import ``"package.module:Attr.sub"`` and return the attribute."""
    module_name, _, attr = target.partition(":")
    try:
        obj: object = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:
        raise PluginError(f"cannot load {what} from {target!r}: {type(exc).__name__}: {exc}") from exc
    return obj


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_manager() -> PluginManager:
    """The process-wide plugin manager (created on first use)."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = PluginManager()
        return _manager


def reset_manager(manager: PluginManager | None = None) -> None:
    """Replace the process-wide manager (tests)."""
    global _manager
    with _manager_lock:
        _manager = manager
