"""``dbt_assets``: every model (and seed, snapshot) of a dbt project as a Headwater asset."""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from headwater import AssetDefinition, DefinitionError, Materialization, asset
from headwater_dbt.errors import DbtError, DbtRunError
from headwater_dbt.manifest import DbtManifest, DbtNode, read_manifest
from headwater_dbt.runner import DbtInvocation, run_dbt, target_dir
from headwater_dbt.selection import as_selectors, select_nodes
from headwater_dbt.templating import check_vars, render_vars

if TYPE_CHECKING:
    from typing import Unpack

    from headwater import Context, PartitionsDefinition
    from headwater.plugin import TaskOptionArgs

_log = logging.getLogger("headwater_dbt")


@dataclass(frozen=True, kw_only=True)
class _Project:
    """What every asset of one ``dbt_assets`` call runs against."""

    project_dir: Path
    profiles_dir: Path | None
    target: str | None
    conn: str | None
    vars: Mapping[str, object] = field(default_factory=dict)
    partition_var: str = "partition"


def dbt_assets(
    project_dir: str | Path,
    *,
    profiles_dir: str | Path | None = None,
    target: str | None = None,
    select: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
    partitions: PartitionsDefinition | None = None,
    partition_var: str = "partition",
    group: str | None = None,
    manifest_path: str | Path | None = None,
    vars: Mapping[str, object] | None = None,  # noqa: A002 - dbt's own name for them
    source_assets: Mapping[str, AssetDefinition | str] | None = None,
    conn: str | None = None,
    **task_options: Unpack[TaskOptionArgs],
) -> list[AssetDefinition]:
    """One asset per dbt model, seed and snapshot of ``project_dir`` (call it at module level of a pipeline file).

    The project's ``target/manifest.json`` (or ``manifest_path``) gives the nodes and their
    dependencies; when it is missing the project is parsed once, here (``dbt parse``: prepare the
    manifest in your deploy step to keep loading fast). Relative paths start at the project directory
    (the nearest folder holding headwater.toml above the calling file; the working directory outside a
    project), as for every shipped operator. Each asset runs ``dbt build --select <node>`` (the node and its tests);
    with ``partitions`` (models only) the run's partition reaches dbt as ``--vars {partition_var: key}``.
    ``source_assets`` maps ``source_name.table`` (or ``source_name``) to the Headwater assets that
    load them, so models reading those sources run after them.
    """
    caller = sys._getframe(1)
    module = str(caller.f_globals.get("__name__", __name__))
    base = _project_root(caller.f_globals.get("__file__"))
    project = _resolve(base, project_dir)
    where = f"dbt_assets({project_dir!r})"
    if not (project / "dbt_project.yml").is_file():
        raise DefinitionError(f"{where}: dbt project not found: {project} has no dbt_project.yml")
    if not isinstance(partition_var, str) or not partition_var:
        raise DefinitionError(f"{where}: partition_var must be a non-empty string, got {partition_var!r}")
    if conn is not None and profiles_dir is not None:
        raise DefinitionError(f"{where}: give conn or profiles_dir, not both")
    if vars is not None and not isinstance(vars, Mapping):
        raise DefinitionError(f"{where}: vars must be a dict, got {vars!r}")
    check_vars(vars or {}, what=f"{where}: vars")
    settings = _Project(
        project_dir=project,
        profiles_dir=_resolve(base, profiles_dir) if profiles_dir is not None else None,
        target=target,
        conn=conn,
        vars=dict(vars or {}),
        partition_var=partition_var,
    )
    manifest_file = _resolve(base, manifest_path) if manifest_path is not None else None
    manifest = _load_manifest(settings, manifest_file, where)
    chosen = _chosen_nodes(manifest, as_selectors(select, "select"), as_selectors(exclude, "exclude"), where)
    sources = _source_deps(manifest, source_assets or {}, where)
    group_name = group if group is not None else (manifest.project_name or None)
    out = []
    for node in chosen:
        deps = _upstream(manifest, node.unique_id, {n.unique_id for n in chosen}, sources)
        fn = _asset_function(settings, node, partitioned=partitions is not None and node.resource_type == "model")
        fn.__module__ = module  # the asset belongs to the pipeline file that called dbt_assets
        make = asset(
            name=node.name,
            deps=deps,
            partitions=partitions if node.resource_type == "model" else None,
            metadata=_static_metadata(node, manifest),
            description=node.description or f"dbt {node.resource_type} {node.name}",
            code_version=_code_version(node),
            group=group_name,
            **task_options,
        )
        out.append(make(fn))
    return out


def _project_root(calling_file: object) -> Path:
    """The project directory of the calling file (the manifest is read now, before any task has a ``ctx``)."""
    from headwater.plugin import project_root_of

    return project_root_of(calling_file if isinstance(calling_file, str) else None)


def _resolve(base: Path, path: str | Path) -> Path:
    p = Path(path).expanduser()
    return (p if p.is_absolute() else base / p).resolve()


def _load_manifest(settings: _Project, manifest_file: Path | None, where: str) -> DbtManifest:
    if manifest_file is not None:
        if not manifest_file.is_file():
            raise DefinitionError(f"{where}: manifest_path {manifest_file} does not exist")
        return read_manifest(manifest_file)
    path = target_dir(settings.project_dir) / "manifest.json"
    if path.is_file():
        return read_manifest(path)
    _log.warning("%s: no %s yet, parsing the dbt project (run `dbt parse` when deploying to skip this)", where, path)
    invocation = DbtInvocation(
        command="parse",
        project_dir=settings.project_dir,
        profiles_dir=settings.profiles_dir,
        target=settings.target,
        vars=settings.vars,
        conn=settings.conn,
    )
    try:
        run_dbt(invocation, _log)
    except (DbtError, OSError) as exc:
        raise DefinitionError(f"{where}: cannot parse the dbt project to build its manifest: {exc}") from None
    if not path.is_file():
        raise DefinitionError(f"{where}: dbt parse wrote no manifest at {path}")
    return read_manifest(path)


def _chosen_nodes(
    manifest: DbtManifest, select: tuple[str, ...] | None, exclude: tuple[str, ...] | None, where: str
) -> list[DbtNode]:
    try:
        picked = select_nodes(manifest, select, exclude)
    except DefinitionError as exc:
        raise DefinitionError(f"{where}: {exc.message}") from None
    nodes = [
        n
        for n in manifest.buildable()
        if n.unique_id in picked and n.materialized != "ephemeral" and n.config.get("enabled", True) is not False
    ]
    seen: dict[str, DbtNode] = {}
    for node in nodes:
        other = seen.get(node.name)
        if other is not None:
            raise DefinitionError(
                f"{where}: two dbt nodes are named '{node.name}' ({other.unique_id} and {node.unique_id}): "
                "asset keys must be unique; exclude one of them"
            )
        seen[node.name] = node
    if not nodes:
        raise DefinitionError(f"{where}: the selection picks no dbt model, seed or snapshot (select={select!r})")
    return sorted(nodes, key=lambda n: n.unique_id)


def _source_deps(
    manifest: DbtManifest, mapping: Mapping[str, AssetDefinition | str], where: str
) -> dict[str, list[str]]:
    """``{source unique id: [asset keys]}`` from ``source_assets``."""
    if not isinstance(mapping, Mapping):
        raise DefinitionError(f"{where}: source_assets must be a dict of source name to asset, got {mapping!r}")
    out: dict[str, list[str]] = {}
    known = sorted({s.key for s in manifest.sources.values()})
    for name, target in mapping.items():
        key = target.key if isinstance(target, AssetDefinition) else target
        if not isinstance(key, str) or not key:
            raise DefinitionError(f"{where}: source_assets[{name!r}] must be an asset or an asset key, got {target!r}")
        hits = [s for s in manifest.sources.values() if s.key == name or s.source_name == name]
        if not hits:
            raise DefinitionError(
                f"{where}: source_assets names {name!r}, which is not a source of the project "
                f"(sources: {', '.join(known) or 'none'})"
            )
        for source in hits:
            out.setdefault(source.unique_id, []).append(key)
    return out


def _upstream(manifest: DbtManifest, uid: str, chosen: set[str], sources: Mapping[str, list[str]]) -> list[str]:
    """The nearest chosen ancestors of ``uid`` (through unselected and ephemeral nodes) and mapped sources."""
    deps: list[str] = []
    seen: set[str] = set()
    stack = list(manifest.parents(uid))
    while stack:
        parent = stack.pop(0)
        if parent in seen:
            continue
        seen.add(parent)
        if parent in chosen:
            name = manifest.nodes[parent].name
            if name not in deps:
                deps.append(name)
        elif parent in sources:
            deps.extend(k for k in sources[parent] if k not in deps)
        else:
            stack.extend(manifest.parents(parent))
    return deps


def _static_metadata(node: DbtNode, manifest: DbtManifest) -> dict[str, object]:
    meta: dict[str, object] = {
        "dbt_unique_id": node.unique_id,
        "resource_type": node.resource_type,
        "materialized": node.materialized,
        "database": node.database,
        "schema": node.schema,
        "relation_name": node.relation_name,
        "path": node.original_file_path,
    }
    if node.tags:
        meta["tags"] = list(node.tags)
    tests = sorted(t.name for t in manifest.tests_of(node.unique_id))
    if tests:
        meta["tests"] = tests
    return meta


def _code_version(node: DbtNode) -> str:
    config = {k: v for k, v in node.config.items() if k not in ("meta", "docs", "tags")}
    text = json.dumps([node.checksum, config], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _asset_function(settings: _Project, node: DbtNode, *, partitioned: bool) -> Callable[..., Materialization]:
    def run(ctx: Context) -> Materialization:
        return materialize_node(ctx, settings, node, partitioned=partitioned)

    run.__name__ = run.__qualname__ = node.name
    run.__doc__ = None
    return run


def materialize_node(ctx: Context, settings: _Project, node: DbtNode, *, partitioned: bool) -> Materialization:
    """Run ``dbt build`` for one node; its run result becomes the materialization's metadata."""
    variables = render_vars(settings.vars, ctx)
    if partitioned and ctx.partition is not None:
        variables[settings.partition_var] = ctx.partition
    invocation = DbtInvocation(
        command="build",
        project_dir=settings.project_dir,
        profiles_dir=settings.profiles_dir,
        target=settings.target,
        select=(node.selector,),
        vars=variables,
        conn=settings.conn,
    )
    outcome = run_dbt(invocation, ctx.log)
    result = outcome.result_for(node.unique_id)
    if result is None:
        raise DbtRunError(
            f"dbt build did not run {node.resource_type} {node.name} ({node.selector}): it is disabled or was "
            f"renamed since the manifest was read; re-parse the project (dbt parse)"
        )
    _report_lineage(ctx, settings.project_dir, node.unique_id)
    tests = [r for r in outcome.results if r.resource_type == "test"]
    metadata: dict[str, Any] = {
        "status": result.status,
        "rows_affected": result.rows_affected,
        "execution_time": round(result.execution_time, 3),
        "message": result.message,
        "relation_name": result.relation_name,
        "tests_passed": sum(1 for r in tests if r.status == "pass"),
        "tests_warned": sum(1 for r in tests if r.status == "warn"),
    }
    if partitioned and ctx.partition is not None:
        metadata["dbt_vars"] = {settings.partition_var: ctx.partition}
    return Materialization(result.relation_name, metadata=metadata)


def _report_lineage(ctx: Context, project_dir: Path, uid: str) -> None:
    path = target_dir(project_dir) / "manifest.json"
    try:
        manifest = read_manifest(path)  # the one this build just wrote: relation names of this target
    except DefinitionError as exc:
        ctx.log.warning("no lineage reported: %s", exc)
        return
    writes = manifest.datasets([uid])
    reads = manifest.datasets(manifest.parents(uid))
    if reads or writes:
        ctx.report_lineage(reads=reads, writes=writes)
