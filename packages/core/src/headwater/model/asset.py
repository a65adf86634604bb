"""Software-defined assets: ``@asset``, the AssetDefinition it makes, its task form and Materialization."""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, overload

from headwater.errors import DefinitionError
from headwater.model.durations import Duration, parse_duration
from headwater.model.operator import Operator, check_task_id
from headwater.model.options import check_option_names
from headwater.model.python_operator import takes_context

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from headwater.model.context import Context
    from headwater.model.freshness import Freshness
    from headwater.model.options import TaskOptionArgs
    from headwater.model.partitions import PartitionMapping, PartitionsDefinition
    from headwater.model.values import JSON

AutoPolicy = Literal["eager", "on_cron"]
AUTO_POLICIES: tuple[str, ...] = ("eager", "on_cron")

_local = threading.local()
#: Every AssetDefinition created in this process, by key (the newest wins): resolves upstream
#: definitions for assets used inside ordinary pipelines.
_known: dict[str, AssetDefinition] = {}


def _collectors() -> list[list[AssetDefinition]]:
    stack: list[list[AssetDefinition]] | None = getattr(_local, "collectors", None)
    if stack is None:
        stack = []
        _local.collectors = stack
    return stack


class collect_assets:  # noqa: N801 - used like a function: `with collect_assets() as found:`
    """Gather every AssetDefinition created in this thread while the block is open (used by the loader)."""

    def __enter__(self) -> list[AssetDefinition]:
        found: list[AssetDefinition] = []
        _collectors().append(found)
        return found

    def __exit__(self, *exc: object) -> None:
        _collectors().pop()


def known_asset(key: str) -> AssetDefinition | None:
    """The newest AssetDefinition with ``key`` created in this process, if any."""
    return _known.get(key)


@dataclass(frozen=True, slots=True)
class Materialization:
    """What an asset function may return: its value plus metadata recorded with the materialization.

    >>> return Materialization(rows, metadata={"rows": len(rows), "null_share": 0.0})

    ``metadata`` values must be JSON (numbers, strings, lists, dicts); anything else is stored as its string.
    """

    value: object = None
    metadata: Mapping[str, object] = field(default_factory=dict, kw_only=True)

    def json_metadata(self) -> dict[str, JSON]:
        """The metadata as JSON-safe values (non-JSON values become their ``str``)."""
        return json_safe(self.metadata)


def json_safe(values: Mapping[str, object]) -> dict[str, JSON]:
    """``values`` round-tripped through JSON (non-JSON values become their ``str``; NaN becomes null)."""
    text = json.dumps(dict(values), default=str)
    loaded: dict[str, JSON] = json.loads(text, parse_constant=lambda _: None)
    return loaded


@dataclass(frozen=True, kw_only=True, eq=False)
class AssetDefinition:
    """A named dataset and the function that produces it. Made by ``@asset``; frozen, no I/O.

    ``deps`` are every upstream asset key (explicit ``deps`` first, then value parameters);
    ``value_params`` the parameters that receive an upstream asset's value (each named after it).
    Calling it inside a ``with Pipeline(...)`` block adds it to that pipeline as a task.
    """

    key: str
    fn: Callable[..., object]
    deps: tuple[str, ...] = ()
    value_params: tuple[str, ...] = ()
    takes_ctx: bool = False
    partitions: PartitionsDefinition | None = None
    partition_mappings: Mapping[str, PartitionMapping] = field(default_factory=dict)
    freshness: Freshness | None = None
    auto: AutoPolicy | None = None
    cron: str | None = None
    debounce: float = 60.0
    metadata: Mapping[str, JSON] = field(default_factory=dict)
    owner: str | None = None
    description: str | None = None
    code_version: str = ""
    group: str | None = None
    #: task options (``retries``, ``timeout``, ``pool``...) for the asset's task
    options: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _known[self.key] = self
        for collector in _collectors():
            collector.append(self)

    def __call__(self) -> AssetOperator:
        """Inside a ``with Pipeline(...)`` block: add this asset as a task (its id is the asset key)."""
        from headwater.model.pipeline import current_pipeline

        pipeline = current_pipeline()
        if pipeline is None:
            raise DefinitionError(
                f"asset '{self.key}' was called outside a `with Pipeline(...)` block; "
                f"to call the plain function, use {self.key}.fn(...)",
                tasks=[self.key],
            )
        existing = pipeline.tasks.get(self.key)
        if existing is not None:
            raise DefinitionError(
                f"asset '{self.key}' is already a task of this pipeline (an asset can be added once)",
                pipeline=pipeline.id,
                tasks=[self.key],
            )
        return AssetOperator(self)

    @property
    def upstream(self) -> tuple[str, ...]:
        """The keys of every upstream asset (same as ``deps``)."""
        return self.deps

    @property
    def effective_cron(self) -> str | None:
        """The cron of ``auto="on_cron"``: ``cron``, else the freshness policy's cron."""
        if self.cron is not None:
            return self.cron
        return getattr(self.freshness, "cron", None)

    def mapping_for(self, upstream_key: str) -> PartitionMapping | None:
        """The partition mapping declared for ``upstream_key`` (None: the default mapping)."""
        return self.partition_mappings.get(upstream_key)

    def __repr__(self) -> str:
        return f"<asset {self.key}>"


class AssetOperator(Operator):
    """The task form of an asset: its id is the asset key; ``execute`` calls the asset function.

    Each value parameter receives ``ctx.upstream[<upstream asset key>]`` (loaded by the engine from
    the same run, or from the upstream's newest materialization of the mapped partitions).
    """

    operator_name = "asset"

    def __init__(self, asset: AssetDefinition) -> None:
        self.asset = asset
        super().__init__(asset.key, **asset.options)  # type: ignore[arg-type]

    def execute(self, ctx: Context) -> object:
        values: dict[str, object] = {}
        for name in self.asset.value_params:
            if name not in ctx.upstream:
                raise LookupError(f"asset '{self.asset.key}': no value for upstream asset '{name}'")
            values[name] = ctx.upstream[name]
        if self.asset.takes_ctx:
            return self.asset.fn(ctx, **values)
        return self.asset.fn(**values)

    def describe(self) -> str:
        parts = [f"asset {self.asset.key}"]
        if self.asset.partitions is not None:
            parts.append(_describe(self.asset.partitions))
        return ", ".join(parts)


def _describe(partitions: object) -> str:
    describe = getattr(partitions, "describe", None)
    return str(describe()) if callable(describe) else repr(partitions)


def _dep_keys(deps: Iterable[AssetDefinition | str] | AssetDefinition | str, where: str) -> Iterator[str]:
    if isinstance(deps, str | AssetDefinition):
        deps = [deps]
    for dep in deps:
        if isinstance(dep, AssetDefinition):
            yield dep.key
        elif isinstance(dep, str):
            try:
                yield check_task_id(dep)
            except DefinitionError:
                raise DefinitionError(f"{where}: invalid asset key {dep!r} in deps", tasks=[str(dep)]) from None
        else:
            raise DefinitionError(f"{where}: deps must be assets or asset keys, got {dep!r}")


def _value_params(fn: Callable[..., object], key: str) -> tuple[bool, tuple[str, ...]]:
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise DefinitionError(f"asset '{key}': cannot read the parameters of {fn!r}", tasks=[key]) from None
    ctx = takes_context(fn)
    if ctx:
        params = params[1:]
    names = []
    for p in params:
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise DefinitionError(
                f"asset '{key}': *{p.name} / **{p.name} is not allowed: "
                "each parameter names one upstream asset (use deps=[...] for ordering only)",
                tasks=[key],
            )
        if p.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise DefinitionError(
                f"asset '{key}': parameter '{p.name}' is positional-only; upstream values are passed by name",
                tasks=[key],
            )
        if p.default is not inspect.Parameter.empty:
            raise DefinitionError(
                f"asset '{key}': parameter '{p.name}' has a default; each parameter names an upstream asset "
                "whose value it receives",
                tasks=[key],
            )
        try:
            names.append(check_task_id(p.name))
        except DefinitionError:  # pragma: no cover - Python identifiers are valid keys
            raise DefinitionError(f"asset '{key}': parameter '{p.name}' is not a valid asset key") from None
    return ctx, tuple(names)


def source_version(fn: Callable[..., object]) -> str:
    """A short hash of the function's source (of its bytecode when the source is unavailable)."""
    try:
        data = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        data = code.co_code if code is not None else repr(fn).encode()
    return hashlib.sha256(data).hexdigest()[:12]


def _first_line(doc: str | None) -> str | None:
    if not doc:
        return None
    for line in inspect.cleandoc(doc).splitlines():
        if line.strip():
            return line.strip()
    return None


def build_asset(
    fn: Callable[..., object],
    *,
    name: str | None = None,
    deps: Sequence[AssetDefinition | str] | AssetDefinition | str = (),
    partitions: PartitionsDefinition | None = None,
    partition_mappings: Mapping[str, PartitionMapping] | None = None,
    freshness: Freshness | None = None,
    auto: str | None = None,
    cron: str | None = None,
    debounce: Duration = "60s",
    metadata: Mapping[str, object] | None = None,
    owner: str | None = None,
    description: str | None = None,
    code_version: str | None = None,
    group: str | None = None,
    options: Mapping[str, object] | None = None,
) -> AssetDefinition:
    """Validate the arguments of ``@asset`` and make the AssetDefinition (DefinitionError naming the asset)."""
    if not callable(fn):
        raise DefinitionError(f"@asset expects a function, got {fn!r}")
    raw_key = name if name is not None else getattr(fn, "__name__", None)
    try:
        key = check_task_id(raw_key)
    except DefinitionError:
        raise DefinitionError(
            f"invalid asset key {raw_key!r}: use letters, digits, '_', '.', '-' (at most 200 characters)",
            tasks=[str(raw_key)],
        ) from None
    where = f"asset '{key}'"
    try:
        return _build(
            fn,
            key,
            where,
            deps=deps,
            partitions=partitions,
            partition_mappings=partition_mappings,
            freshness=freshness,
            auto=auto,
            cron=cron,
            debounce=debounce,
            metadata=metadata,
            owner=owner,
            description=description,
            code_version=code_version,
            group=group,
            options=options,
        )
    except DefinitionError as exc:
        if not exc.tasks:
            exc.tasks = (key,)
        raise


def _build(
    fn: Callable[..., object],
    key: str,
    where: str,
    *,
    deps: Sequence[AssetDefinition | str] | AssetDefinition | str,
    partitions: PartitionsDefinition | None,
    partition_mappings: Mapping[str, PartitionMapping] | None,
    freshness: Freshness | None,
    auto: str | None,
    cron: str | None,
    debounce: Duration,
    metadata: Mapping[str, object] | None,
    owner: str | None,
    description: str | None,
    code_version: str | None,
    group: str | None,
    options: Mapping[str, object] | None,
) -> AssetDefinition:
    from headwater.model.freshness import Freshness
    from headwater.model.partitions import PartitionMapping, PartitionsDefinition

    takes_ctx, params = _value_params(fn, key)
    dep_keys: list[str] = []
    for dep in [*_dep_keys(deps, where), *params]:
        if dep == key:
            raise DefinitionError(f"cycle: asset '{key}' depends on itself", tasks=[key])
        if dep not in dep_keys:
            dep_keys.append(dep)
    if partitions is not None and not isinstance(partitions, PartitionsDefinition):
        raise DefinitionError(
            f"{where}: partitions must be DailyPartitions(...), StaticPartitions([...]) or another "
            f"partitions definition, got {partitions!r}"
        )
    mappings = dict(partition_mappings or {})
    for up, mapping in mappings.items():
        if up not in dep_keys:
            known = ", ".join(dep_keys) or "none"
            raise DefinitionError(
                f"{where}: partition_mappings names '{up}', which is not one of its upstream assets ({known})"
            )
        if not isinstance(mapping, PartitionMapping):
            raise DefinitionError(f"{where}: partition_mappings['{up}'] must be a partition mapping, got {mapping!r}")
    if freshness is not None and not isinstance(freshness, Freshness):
        raise DefinitionError(f"{where}: freshness must be Freshness(max_lag=..., cron=...), got {freshness!r}")
    if auto is not None and auto not in AUTO_POLICIES:
        raise DefinitionError(f"{where}: auto must be None, 'eager' or 'on_cron', got {auto!r}")
    if cron is not None:
        from headwater.model.schedule import cron_expression

        if not isinstance(cron, str):
            raise DefinitionError(f"{where}: cron must be a cron string, got {cron!r}")
        cron_expression(cron)
    if auto == "on_cron" and cron is None and getattr(freshness, "cron", None) is None:
        raise DefinitionError(
            f"{where}: auto='on_cron' needs a cron: pass cron='0 6 * * *' or a freshness policy with a cron"
        )
    debounce_seconds = parse_duration(debounce, what="debounce")
    for label, value in (("owner", owner), ("description", description), ("group", group)):
        if value is not None and not isinstance(value, str):
            raise DefinitionError(f"{where}: {label} must be a string, got {value!r}")
    if code_version is not None and (not isinstance(code_version, str) or not code_version):
        raise DefinitionError(f"{where}: code_version must be a non-empty string, got {code_version!r}")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise DefinitionError(f"{where}: metadata must be a dict, got {metadata!r}")
    task_options = dict(options or {})
    check_option_names(task_options, where=f"@asset {key}")
    if owner is not None:
        task_options.setdefault("owner", owner)
    from headwater.model.options import resolve_options

    resolve_options(task_options, where=where)  # bad options fail at definition time
    return AssetDefinition(
        key=key,
        fn=fn,
        deps=tuple(dep_keys),
        value_params=params,
        takes_ctx=takes_ctx,
        partitions=partitions,
        partition_mappings=mappings,
        freshness=freshness,
        auto=auto,  # type: ignore[arg-type]
        cron=cron,
        debounce=debounce_seconds,
        metadata=json_safe(metadata or {}),
        owner=owner,
        description=description if description is not None else _first_line(getattr(fn, "__doc__", None)),
        code_version=code_version or source_version(fn),
        group=group,
        options=task_options,
    )


@overload
def asset(fn: Callable[..., object], /) -> AssetDefinition: ...
@overload
def asset(
    name: str | None = None,
    *,
    deps: Sequence[AssetDefinition | str] | AssetDefinition | str = (),
    partitions: PartitionsDefinition | None = None,
    partition_mappings: Mapping[str, PartitionMapping] | None = None,
    freshness: Freshness | None = None,
    auto: AutoPolicy | None = None,
    cron: str | None = None,
    debounce: Duration = "60s",
    metadata: Mapping[str, object] | None = None,
    description: str | None = None,
    code_version: str | None = None,
    group: str | None = None,
    **options: Unpack[TaskOptionArgs],
) -> Callable[[Callable[..., object]], AssetDefinition]: ...
def asset(
    fn: Callable[..., object] | str | None = None,
    /,
    *,
    name: str | None = None,
    deps: Sequence[AssetDefinition | str] | AssetDefinition | str = (),
    partitions: PartitionsDefinition | None = None,
    partition_mappings: Mapping[str, PartitionMapping] | None = None,
    freshness: Freshness | None = None,
    auto: AutoPolicy | None = None,
    cron: str | None = None,
    debounce: Duration = "60s",
    metadata: Mapping[str, object] | None = None,
    description: str | None = None,
    code_version: str | None = None,
    group: str | None = None,
    **options: Unpack[TaskOptionArgs],
) -> AssetDefinition | Callable[[Callable[..., object]], AssetDefinition]:
    """Make a function an asset: ``@asset`` or ``@asset(deps=[...], partitions=DailyPartitions(...), ...)``.

    The asset key is ``name`` (or the function's name). Every parameter except a leading
    ``ctx``/``context`` names an upstream asset and receives its value; ``deps`` adds
    upstream assets for ordering and lineage only. Any ``@task`` option (``owner``,
    ``retries``, ``timeout``, ``pool``...) applies to the asset's task.
    """
    settings = {
        "deps": deps,
        "partitions": partitions,
        "partition_mappings": partition_mappings,
        "freshness": freshness,
        "auto": auto,
        "cron": cron,
        "debounce": debounce,
        "metadata": metadata,
        "owner": options.get("owner"),
        "description": description,
        "code_version": code_version,
        "group": group,
        "options": dict(options),
    }
    if fn is not None and not isinstance(fn, str):
        return build_asset(fn, name=name, **settings)  # type: ignore[arg-type]
    key = fn if isinstance(fn, str) else name

    def decorate(f: Callable[..., object]) -> AssetDefinition:
        return build_asset(f, name=key, **settings)  # type: ignore[arg-type]

    return decorate
