"""The project's asset graph: every @asset of the pipelines folder, validated, and the ``assets`` pipeline."""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from headwater.errors import DefinitionError
from headwater.model.asset import AssetDefinition, AssetOperator
from headwater.model.graph import topological_order
from headwater.model.pipeline import ASSETS_PIPELINE_ID, Pipeline, reserved_ids_allowed

__all__ = ["ASSETS_PIPELINE_ID", "AssetGraph", "asset_pipeline", "graph_of", "load_asset_graph"]

#: How many assets an ``assets`` run may have in flight at once is governed by capacity and pools,
#: not by max_active_runs: materialize and partition backfills run many partitions side by side.
ASSETS_MAX_ACTIVE_RUNS = 10_000


@dataclass(frozen=True, kw_only=True)
class AssetGraph:
    """Every asset of a project, with its edges. ``order`` lists keys upstream first."""

    folder: str | None
    assets: dict[str, AssetDefinition]
    upstream: dict[str, tuple[str, ...]]
    downstream: dict[str, tuple[str, ...]]
    order: tuple[str, ...]
    file_of: dict[str, str | None] = field(default_factory=dict)

    def __contains__(self, key: object) -> bool:
        return key in self.assets

    def __len__(self) -> int:
        return len(self.assets)

    def get(self, key: str) -> AssetDefinition:
        """The asset ``key`` (DefinitionError naming close matches if there is none)."""
        found = self.assets.get(key)
        if found is None:
            raise DefinitionError(f"unknown asset '{key}'{_suggest(key, self.assets)}", tasks=[key])
        return found

    def ancestors(self, keys: Iterable[str]) -> set[str]:
        """Every asset upstream of ``keys`` (transitively), not including them."""
        return _walk(keys, self.upstream)

    def descendants(self, keys: Iterable[str]) -> set[str]:
        """Every asset downstream of ``keys`` (transitively), not including them."""
        return _walk(keys, self.downstream)

    def sorted(self, keys: Iterable[str]) -> list[str]:
        """``keys`` in graph order (upstream first)."""
        wanted = set(keys)
        return [k for k in self.order if k in wanted]


def _walk(keys: Iterable[str], edges: dict[str, tuple[str, ...]]) -> set[str]:
    start = set(keys)
    seen: set[str] = set()
    stack = [n for k in start for n in edges.get(k, ())]
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(edges.get(node, ()))
    return seen - start


def _suggest(key: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(f"'{c}'" for c in close) + "?)"


def graph_of(
    assets: Iterable[AssetDefinition], *, folder: str | None = None, files: dict[str, str | None] | None = None
) -> AssetGraph:
    """Validate ``assets`` as one graph: duplicate keys, unknown deps, cycles, partition mappings."""
    from headwater.model.partitions import check_mapping

    files = dict(files or {})
    by_key: dict[str, AssetDefinition] = {}
    for definition in assets:
        other = by_key.get(definition.key)
        if other is not None and other is not definition:
            raise DefinitionError(
                f"duplicate asset key '{definition.key}': defined twice",
                tasks=[definition.key],
                file=files.get(definition.key),
            )
        by_key[definition.key] = definition
    for key, definition in by_key.items():
        for dep in definition.deps:
            if dep not in by_key:
                raise DefinitionError(
                    f"asset '{key}' depends on unknown asset '{dep}'{_suggest(dep, (k for k in by_key if k != key))}",
                    tasks=[key, dep],
                    file=files.get(key),
                )
    upstream = {key: set(d.deps) for key, d in by_key.items()}
    order = topological_order(list(by_key), upstream)
    if order and isinstance(order[0], list):
        cycle: list[str] = order[0]
        raise DefinitionError(f"cycle between assets: {' -> '.join(cycle)}", tasks=cycle[:-1], file=files.get(cycle[0]))
    for key, definition in by_key.items():
        for dep in definition.deps:
            try:
                check_mapping(
                    definition.partitions,
                    by_key[dep].partitions,
                    definition.mapping_for(dep),
                    what=f"asset '{key}' -> upstream asset '{dep}'",
                )
            except DefinitionError as exc:
                exc.located(file=files.get(key))
                if not exc.tasks:
                    exc.tasks = (key, dep)
                raise
    downstream: dict[str, list[str]] = {key: [] for key in by_key}
    keys: list[str] = order  # type: ignore[assignment]
    for key in keys:
        for dep in by_key[key].deps:
            downstream[dep].append(key)
    return AssetGraph(
        folder=folder,
        assets={k: by_key[k] for k in keys},
        upstream={k: by_key[k].deps for k in keys},
        downstream={k: tuple(v) for k, v in downstream.items()},
        order=tuple(keys),
        file_of={k: files.get(k) for k in keys},
    )


_lock = threading.RLock()
_graphs: dict[str, tuple[tuple[tuple[str, int, int], ...], AssetGraph]] = {}
_pipelines: dict[str, tuple[AssetGraph, Pipeline]] = {}


def _signatures(paths: list[Path]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)


def load_asset_graph(folder: str | Path) -> AssetGraph:
    """Every asset the pipeline files of ``folder`` define, validated (files are imported once per version).

    A file that fails to load is a DefinitionError: an asset graph with a hole in it would
    misreport dependencies.
    """
    from headwater.loader.files import load_assets
    from headwater.loader.index import pipeline_files

    root = Path(folder).resolve()
    paths = pipeline_files(root)
    signature = _signatures(paths)
    key = str(root)
    with _lock:
        cached = _graphs.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        found: list[AssetDefinition] = []
        files: dict[str, str | None] = {}
        for path in paths:
            file = str(path.resolve())
            for definition in load_assets(path):
                if definition.key in files and files[definition.key] != file:
                    raise DefinitionError(
                        f"duplicate asset key '{definition.key}': defined in {files[definition.key]} and in {file}",
                        tasks=[definition.key],
                        file=file,
                    )
                files[definition.key] = file
                found.append(definition)
        graph = graph_of(found, folder=key, files=files)
        _graphs[key] = (signature, graph)
        return graph


def asset_pipeline(graph: AssetGraph, selection: Iterable[str] | None = None) -> Pipeline:
    """The ``assets`` pipeline: one AssetOperator per selected asset (all by default), edges between them.

    Its ``file`` is the graph's folder, so a worker loads it with ``load_pipeline(folder, "assets")``.
    """
    keys = graph.order if selection is None else graph.sorted(_check_selection(graph, selection))
    full = _full_pipeline(graph)
    if selection is None:
        return full
    return full.subset(keys)


def _check_selection(graph: AssetGraph, selection: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(selection))
    for key in wanted:
        graph.get(key)
    return wanted


def _full_pipeline(graph: AssetGraph) -> Pipeline:
    cache_key = graph.folder or f"memory:{id(graph)}"
    with _lock:
        cached = _pipelines.get(cache_key)
        if cached is not None and cached[0] is graph:
            return cached[1]
        with reserved_ids_allowed():
            pipeline = Pipeline(
                ASSETS_PIPELINE_ID,
                max_active_runs=ASSETS_MAX_ACTIVE_RUNS,
                description="the project's assets (headwater materialize)",
            )
        pipeline.file = graph.folder
        pipeline.asset_definitions = dict(graph.assets)
        for key in graph.order:
            pipeline.add(AssetOperator(graph.assets[key]))
        for key in graph.order:
            for dep in graph.upstream[key]:
                pipeline.set_dependency(dep, key)
        pipeline.validate()
        if graph.folder is None:  # an in-memory graph (tests): workers in this process find it by id
            from headwater.loader.files import remember

            remember(pipeline)
        _pipelines[cache_key] = (graph, pipeline)
        return pipeline
