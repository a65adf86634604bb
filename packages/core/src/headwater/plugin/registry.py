"""Look up registered operators, sensors and notifiers by name."""

from __future__ import annotations

from headwater.model.operator import Operator
from headwater.plugin.manager import Kind, get_manager


def load_operator(name: str) -> type[Operator]:
    """The operator (or sensor) class registered as ``name``, e.g. ``load_operator("bash")``.

    Raises DefinitionError naming the package to install when no plugin provides it.
    """
    manager = get_manager()
    kind = Kind.SENSOR if name in manager.names(Kind.SENSOR) else Kind.OPERATOR
    return manager.resolve_class(kind, name, Operator)
