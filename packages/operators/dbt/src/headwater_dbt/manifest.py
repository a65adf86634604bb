"""A dbt project's ``manifest.json``, read into the nodes, sources and edges Headwater needs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from headwater import DefinitionError

#: node types that build a relation, and so become assets
BUILDABLE = ("model", "seed", "snapshot")


@dataclass(frozen=True, kw_only=True)
class DbtNode:
    """A model, seed, snapshot or test of the manifest."""

    unique_id: str
    name: str
    resource_type: str
    package: str
    fqn: tuple[str, ...]
    path: str
    original_file_path: str
    tags: tuple[str, ...] = ()
    config: Mapping[str, object] = field(default_factory=dict)
    database: str | None = None
    schema: str | None = None
    identifier: str | None = None
    relation_name: str | None = None
    description: str = ""
    depends_on: tuple[str, ...] = ()
    checksum: str = ""
    meta: Mapping[str, object] = field(default_factory=dict)

    @property
    def materialized(self) -> str | None:
        value = self.config.get("materialized")
        return str(value) if value is not None else None

    @property
    def selector(self) -> str:
        """A dbt selector for exactly this node (``fqn:pkg.dir.name``)."""
        return "fqn:" + ".".join(self.fqn)


@dataclass(frozen=True, kw_only=True)
class DbtSource:
    """A ``source`` table of the manifest."""

    unique_id: str
    source_name: str
    name: str
    database: str | None = None
    schema: str | None = None
    identifier: str | None = None

    @property
    def key(self) -> str:
        """``source_name.table_name``, as ``source_assets`` names it."""
        return f"{self.source_name}.{self.name}"


@dataclass(frozen=True, kw_only=True)
class DbtManifest:
    """The parts of a manifest Headwater uses: nodes, sources, and the adapter type."""

    path: Path
    project_name: str
    adapter_type: str
    nodes: Mapping[str, DbtNode]
    sources: Mapping[str, DbtSource]

    def buildable(self) -> list[DbtNode]:
        """Every model, seed and snapshot (ephemeral models included)."""
        return [n for n in self.nodes.values() if n.resource_type in BUILDABLE]

    def tests_of(self, unique_id: str) -> list[DbtNode]:
        """The data tests that depend on node ``unique_id``."""
        return [n for n in self.nodes.values() if n.resource_type == "test" and unique_id in n.depends_on]

    def parents(self, unique_id: str) -> tuple[str, ...]:
        node = self.nodes.get(unique_id)
        return node.depends_on if node is not None else ()

    def dataset(self, unique_id: str) -> str | None:
        """The dataset name used in lineage: ``postgres://<database>/<schema>.<table>``."""
        item: DbtNode | DbtSource | None = self.nodes.get(unique_id) or self.sources.get(unique_id)
        if item is None or (isinstance(item, DbtNode) and item.resource_type not in BUILDABLE):
            return None
        if isinstance(item, DbtNode) and item.materialized == "ephemeral":
            return None
        table = item.identifier or item.name
        schema = f"{item.schema}." if item.schema else ""
        return f"{self.adapter_type}://{item.database or ''}/{schema}{table}"

    def datasets(self, unique_ids: Iterable[str]) -> list[str]:
        """The datasets of ``unique_ids`` that have one, in order, without repeats."""
        out: list[str] = []
        for uid in unique_ids:
            name = self.dataset(uid)
            if name is not None and name not in out:
                out.append(name)
        return out


def read_manifest(path: Path) -> DbtManifest:
    """Read ``path`` (a dbt ``manifest.json``); DefinitionError naming the file if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DefinitionError(f"cannot read the dbt manifest {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise DefinitionError(f"the dbt manifest {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise DefinitionError(f"{path} is not a dbt manifest (no 'nodes')")
    return manifest_from_dict(data, path)


def manifest_from_dict(data: Mapping[str, object], path: Path) -> DbtManifest:
    """A DbtManifest from the parsed JSON of ``manifest.json``."""
    metadata = _mapping(data.get("metadata"))
    nodes = {uid: _node(uid, _mapping(raw)) for uid, raw in _mapping(data.get("nodes")).items()}
    sources = {uid: _source(uid, _mapping(raw)) for uid, raw in _mapping(data.get("sources")).items()}
    return DbtManifest(
        path=path,
        project_name=str(metadata.get("project_name") or ""),
        adapter_type=str(metadata.get("adapter_type") or "dbt"),
        nodes=nodes,
        sources=sources,
    )


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()


def _opt(value: object) -> str | None:
    return str(value) if value is not None else None


def _node(uid: str, raw: Mapping[str, object]) -> DbtNode:
    checksum = _mapping(raw.get("checksum")).get("checksum")
    return DbtNode(
        unique_id=uid,
        name=str(raw.get("name") or uid.rsplit(".", 1)[-1]),
        resource_type=str(raw.get("resource_type") or uid.split(".", 1)[0]),
        package=str(raw.get("package_name") or ""),
        fqn=_strings(raw.get("fqn")),
        path=str(raw.get("path") or ""),
        original_file_path=str(raw.get("original_file_path") or ""),
        tags=_strings(raw.get("tags")),
        config=_mapping(raw.get("config")),
        database=_opt(raw.get("database")),
        schema=_opt(raw.get("schema")),
        identifier=_opt(raw.get("alias") or raw.get("name")),
        relation_name=_opt(raw.get("relation_name")),
        description=str(raw.get("description") or ""),
        depends_on=_strings(_mapping(raw.get("depends_on")).get("nodes")),
        checksum=str(checksum or ""),
        meta=_mapping(raw.get("meta")),
    )


def _source(uid: str, raw: Mapping[str, object]) -> DbtSource:
    return DbtSource(
        unique_id=uid,
        source_name=str(raw.get("source_name") or ""),
        name=str(raw.get("name") or ""),
        database=_opt(raw.get("database")),
        schema=_opt(raw.get("schema")),
        identifier=_opt(raw.get("identifier") or raw.get("name")),
    )
