"""dbt's node selection syntax (``--select`` / ``--exclude``), evaluated on the manifest without running dbt.

Supported: space-separated unions, comma intersections, the methods ``fqn`` (the default), ``tag``,
``path``, ``file``, ``resource_type``, ``package``, ``config.<key>`` and ``source``, wildcards, and the
graph operators ``+model``, ``model+``, ``2+model``, ``model+1`` and ``@model``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from fnmatch import fnmatch

from headwater import DefinitionError
from headwater_dbt.manifest import DbtManifest, DbtNode, DbtSource

METHODS = ("fqn", "tag", "path", "file", "resource_type", "package", "config.<key>", "source")
_SELECTOR = re.compile(
    r"\A(?P<at>@)?(?:(?P<parents_depth>\d*)(?P<parents>\+))?"
    r"(?:(?P<method>[\w.]+):)?(?P<value>.*?)"
    r"(?P<children>\+(?P<children_depth>\d*))?\Z"
)
Item = DbtNode | DbtSource


def select_nodes(manifest: DbtManifest, select: Iterable[str] | None, exclude: Iterable[str] | None) -> set[str]:
    """The unique ids (nodes and sources) that ``select`` minus ``exclude`` picks; all of them when select is None."""
    universe: dict[str, Item] = {**manifest.sources, **manifest.nodes}
    parents = {uid: tuple(p for p in manifest.parents(uid) if p in universe) for uid in universe}
    children: dict[str, list[str]] = {uid: [] for uid in universe}
    for uid, ups in parents.items():
        for up in ups:
            children[up].append(uid)
    graph = _Graph(universe, parents, {k: tuple(v) for k, v in children.items()})
    chosen = set(universe) if select is None else graph.union(select)
    if exclude is not None:
        chosen -= graph.union(exclude)
    return chosen


def as_selectors(value: str | Iterable[str] | None, what: str) -> tuple[str, ...] | None:
    """``select=`` / ``exclude=`` as a tuple of selector strings (a string or a list of strings)."""
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise DefinitionError(f"{what}: expected a dbt selector string or a list of them, got {item!r}")
    return tuple(items)


class _Graph:
    def __init__(
        self, items: Mapping[str, Item], parents: Mapping[str, tuple[str, ...]], children: Mapping[str, tuple[str, ...]]
    ) -> None:
        self.items = items
        self.parents = parents
        self.children = children

    def union(self, selectors: Iterable[str]) -> set[str]:
        out: set[str] = set()
        for selector in selectors:
            for term in selector.split():
                out |= self.intersection(term)
        return out

    def intersection(self, term: str) -> set[str]:
        parts = [p for p in term.split(",") if p]
        result = self.atom(parts[0]) if parts else set()
        for part in parts[1:]:
            result &= self.atom(part)
        return result

    def atom(self, text: str) -> set[str]:
        match = _SELECTOR.match(text)
        if match is None or not match["value"]:
            raise DefinitionError(f"cannot read the dbt selector {text!r}")
        method = match["method"] or _default_method(match["value"])
        matcher = _matcher(method, match["value"], text)
        base = {uid for uid, item in self.items.items() if matcher(item)}
        result = set(base)
        if match["at"]:
            down = self._walk(base, self.children, None)
            result |= down | self._walk(base | down, self.parents, None)
            return result
        if match["parents"]:
            result |= self._walk(base, self.parents, _depth(match["parents_depth"]))
        if match["children"]:
            result |= self._walk(base, self.children, _depth(match["children_depth"]))
        return result

    @staticmethod
    def _walk(start: set[str], edges: Mapping[str, tuple[str, ...]], depth: int | None) -> set[str]:
        seen: set[str] = set()
        frontier = set(start)
        level = 0
        while frontier and (depth is None or level < depth):
            level += 1
            frontier = {n for uid in frontier for n in edges.get(uid, ()) if n not in seen}
            seen |= frontier
        return seen


def _depth(text: str | None) -> int | None:
    return int(text) if text else None


def _default_method(value: str) -> str:
    if "/" in value or value.endswith((".sql", ".py", ".csv")):
        return "path"
    return "fqn"


def _matcher(method: str, value: str, text: str) -> Callable[[Item], bool]:
    if method == "fqn":
        return lambda item: isinstance(item, DbtNode) and _fqn_selected(item.fqn, value)
    if method == "tag":
        return lambda item: isinstance(item, DbtNode) and any(fnmatch(t, value) for t in item.tags)
    if method == "path":
        wanted = value.rstrip("/")
        return lambda item: isinstance(item, DbtNode) and _in_path(item.original_file_path, wanted)
    if method == "file":
        return lambda item: isinstance(item, DbtNode) and _file_matches(item.original_file_path, value)
    if method == "resource_type":
        return lambda item: (item.resource_type if isinstance(item, DbtNode) else "source") == value
    if method == "package":
        return lambda item: isinstance(item, DbtNode) and fnmatch(item.package, value)
    if method.startswith("config.") and len(method) > len("config."):
        key = method[len("config.") :]
        return lambda item: isinstance(item, DbtNode) and _config_matches(item.config.get(key), value)
    if method == "source":
        return lambda item: isinstance(item, DbtSource) and _source_matches(item, value)
    raise DefinitionError(
        f"dbt selector {text!r}: method '{method}' is not supported when selecting from the manifest "
        f"(supported: {', '.join(METHODS)})"
    )


def _fqn_selected(fqn: tuple[str, ...], selector: str) -> bool:
    """dbt's ``is_selected_node`` for unversioned nodes: the name, a dotted fqn prefix, or a wildcard."""
    if fqn and fqn[-1] == selector:
        return True
    flat = [part for segment in fqn for part in segment.split(".")]
    wanted = selector.split(".")
    if len(flat) < len(wanted):
        return False
    for i, part in enumerate(wanted):
        if any(c in part for c in "*?[]"):
            if fnmatch(".".join(flat[i:]), ".".join(wanted[i:])):
                return True
            return "." not in selector and bool(fqn) and fnmatch(fqn[-1], selector)
        if flat[i] != part:
            return False
    return True


def _in_path(path: str, wanted: str) -> bool:
    return path == wanted or path.startswith(wanted + "/") or fnmatch(path, wanted)


def _file_matches(path: str, value: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return fnmatch(name, value) or fnmatch(name.rsplit(".", 1)[0], value)


def _config_matches(actual: object, value: str) -> bool:
    if isinstance(actual, list | tuple):
        return any(_config_matches(a, value) for a in actual)
    if isinstance(actual, bool):
        return str(actual).lower() == value.lower()
    return actual is not None and fnmatch(str(actual), value)


def _source_matches(source: DbtSource, value: str) -> bool:
    if "." in value:
        return fnmatch(source.key, value)
    return fnmatch(source.source_name, value)
