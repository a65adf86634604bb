"""Dynamic tasks: ``fetch.map(items)`` adds one node that runs one task instance per item."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headwater.errors import DefinitionError
from headwater.model.operator import Operator
from headwater.model.python_operator import PythonOperator, _refs, _resolve, takes_context

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from headwater.model.context import Context
    from headwater.model.options import TaskOptionArgs
    from headwater.model.pipeline import Pipeline

_INSTANCE_ID = re.compile(r"^(?P<node>.+)\[(?P<index>\d+)\]$")
#: Room kept in a task id for the ``[index]`` of its instances (task ids are stored in 200 characters).
_INDEX_ROOM = 8


@dataclass(frozen=True, slots=True)
class unmapped:  # noqa: N801 - used like a function: fetch.map(urls, session=unmapped(s))
    """Wrap an argument of ``task.map(...)`` to pass it whole to every instance instead of mapping over it."""

    value: object


class MapError(ValueError):
    """A mapped node cannot be expanded: an argument is not a list, or the lengths differ."""


def instance_id(node_id: str, index: int) -> str:
    """The task id of instance ``index`` of mapped node ``node_id``: ``fetch[3]``."""
    return f"{node_id}[{index}]"


def parse_instance_id(task_id: str) -> tuple[str, int] | None:
    """``("fetch", 3)`` for ``"fetch[3]"``; None for a task id that names no mapped instance."""
    match = _INSTANCE_ID.match(task_id)
    if match is None:
        return None
    return match["node"], int(match["index"])


def group_instances(task_ids: Iterable[str]) -> dict[str, list[str]]:
    """Instance ids by the node they belong to, in item order: ``{"fetch": ["fetch[0]", "fetch[1]"]}``."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for task_id in task_ids:
        parsed = parse_instance_id(task_id)
        if parsed is not None:
            groups.setdefault(parsed[0], []).append((parsed[1], task_id))
    return {node: [task_id for _, task_id in sorted(members)] for node, members in groups.items()}


def index_range(node_id: str, count: int) -> str:
    """How a node's instances are named together: ``fetch[0..4999]``."""
    return instance_id(node_id, 0) if count == 1 else f"{node_id}[0..{count - 1}]"


@dataclass(frozen=True, slots=True)
class _Arg:
    """One argument given to ``.map``: mapped over (a literal list or a task's result) or passed whole."""

    name: str
    value: object
    mapped: bool


def _literal_items(task_id: str, name: str, value: object) -> object:
    """A mapped literal as a list (an upstream task stays a task: its result is mapped at run time)."""
    if isinstance(value, Operator):
        return value
    if isinstance(value, str | bytes | bytearray | Mapping | set | frozenset) or not isinstance(value, Iterable):
        raise DefinitionError(
            f"task '{task_id}': .map() maps over lists, tuples, ranges or a task's result; argument {name!r} "
            f"is a {type(value).__name__}: wrap it in unmapped(...) to pass it whole to every instance",
            tasks=[task_id],
        )
    return list(value)


class MappedOperator(Operator):
    """The node of ``fn.map(...)``: at run time, one instance of ``fn`` per item (``id[0]``, ``id[1]``...).

    Every argument is mapped over (zipped) unless wrapped in :class:`unmapped`. A
    mapped argument is a literal sequence or an upstream task (its result must be a
    list). ``max_parallel`` limits how many instances of this node run at once.
    The node's result is the list of its instances' results, in item order.
    """

    operator_name = "python.map"

    def __init__(
        self,
        task_id: str,
        *,
        fn: Callable[..., object],
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
        max_parallel: int | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        if not callable(fn):
            raise DefinitionError(f"task '{task_id}': fn must be callable, got {fn!r}", tasks=[task_id])
        if len(task_id) > 200 - _INDEX_ROOM:
            raise DefinitionError(
                f"task '{task_id[:40]}...': the id of a mapped task is at most {200 - _INDEX_ROOM} characters "
                "(its instances add [index])",
                tasks=[task_id],
            )
        if max_parallel is not None and (
            isinstance(max_parallel, bool) or not isinstance(max_parallel, int) or max_parallel < 1
        ):
            raise DefinitionError(
                f"task '{task_id}': max_parallel: expected a whole number >= 1 or None, got {max_parallel!r}",
                tasks=[task_id],
            )
        kwargs = dict(kwargs or {})
        self.fn = fn
        self.max_parallel = max_parallel
        self._takes_ctx = takes_context(fn)
        names = _positional_names(fn, self._takes_ctx, len(args))
        self.args = tuple(_argument(task_id, n, v) for n, v in zip(names, args, strict=True))
        self.kwargs = {k: _argument(task_id, k, v) for k, v in kwargs.items()}
        mapped = list(self.mapped_arguments())
        if not mapped:
            raise DefinitionError(
                f"task '{task_id}': .map() needs at least one argument to map over "
                "(every argument is wrapped in unmapped(...)); call the task instead",
                tasks=[task_id],
            )
        _check_binds(task_id, fn, self._takes_ctx, len(args), kwargs)
        lengths = {a.name: len(a.value) for a in mapped if isinstance(a.value, list)}
        if len(set(lengths.values())) > 1:
            raise DefinitionError(
                f"task '{task_id}': .map() arguments have different lengths ({_lengths(lengths)}); "
                "mapped arguments are zipped, so they must have the same length",
                tasks=[task_id],
            )
        super().__init__(task_id, **options)
        if self.options.cache_key is not None:  # called with one instance's arguments: an item of each mapped one
            from headwater.model.python_operator import check_cache_key

            pipeline_id = self.pipeline.id if self.pipeline is not None else None
            check_cache_key(self.options.cache_key, args, kwargs, task_id=task_id, pipeline=pipeline_id)

    # -- the definition ----------------------------------------------------------
    def mapped_arguments(self) -> Iterable[_Arg]:
        """The arguments mapped over, in call order."""
        yield from (a for a in self.args if a.mapped)
        yield from (a for a in self.kwargs.values() if a.mapped)

    def mapped_upstream(self) -> list[str]:
        """Ids of the upstream tasks whose results are mapped over (their item counts decide the expansion)."""
        return [a.value.task_id for a in self.mapped_arguments() if isinstance(a.value, Operator)]

    def sliced_upstream(self) -> list[str]:
        """Upstream tasks each instance needs one item of only: mapped over directly and used in no other way.

        The engine sends an instance just its item of their results, under ``<task id>[<index>]``.
        """
        direct = [a.value.task_id for a in self.mapped_arguments() if isinstance(a.value, Operator)]
        elsewhere = {
            ref.task_id
            for a in (*self.args, *self.kwargs.values())
            if not (a.mapped and isinstance(a.value, Operator))
            for ref in _refs(a.value)
        }
        return [task_id for task_id in dict.fromkeys(direct) if task_id not in elsewhere]

    def data_dependencies(self) -> Iterable[Operator]:
        for arg in (*self.args, *self.kwargs.values()):
            yield from _refs(arg.value)

    def describe(self) -> str:
        name = getattr(self.fn, "__qualname__", repr(self.fn))
        mapped = ", ".join(a.name for a in self.mapped_arguments())
        limit = f", max_parallel={self.max_parallel}" if self.max_parallel else ""
        return f"python {name}() mapped over {mapped}{limit}"

    # -- at run time -------------------------------------------------------------
    def instance_count(self, count_of: Callable[[str], int]) -> int:
        """How many instances to create: the common length of the mapped arguments.

        ``count_of(task_id)`` gives the number of items in an upstream task's result
        (raising MapError when it is not a list). Raises MapError naming the lengths
        when they differ.
        """
        lengths: dict[str, int] = {}
        for arg in self.mapped_arguments():
            if isinstance(arg.value, Operator):
                lengths[f"{arg.name} (result of '{arg.value.task_id}')"] = count_of(arg.value.task_id)
            else:
                assert isinstance(arg.value, list)
                lengths[arg.name] = len(arg.value)
        if len(set(lengths.values())) > 1:
            raise MapError(
                f"mapped arguments have different lengths: {_lengths(lengths)} "
                "(they are zipped, so they must have the same length)"
            )
        return next(iter(lengths.values()))

    def instance(self, index: int, upstream: Mapping[str, object]) -> MappedInstance:
        """Instance ``index`` as an operator, its mapped arguments replaced by their item ``index``."""
        args = [self._pick(a, index, upstream) for a in self.args]
        kwargs = {k: self._pick(a, index, upstream) for k, a in self.kwargs.items()}
        return MappedInstance(self, index, args, kwargs)

    def _pick(self, arg: _Arg, index: int, upstream: Mapping[str, object]) -> object:
        if not arg.mapped:
            return arg.value
        if isinstance(arg.value, list):  # a literal: resolve only this instance's item
            if index >= len(arg.value):
                raise MapError(f"argument {arg.name!r} has {len(arg.value)} items, no item {index}")
            return _resolve(arg.value[index], upstream)
        if isinstance(arg.value, Operator):
            sliced = instance_id(arg.value.task_id, index)
            if sliced in upstream:  # the engine sent this instance its item only
                return upstream[sliced]
        items = _resolve(arg.value, upstream)
        if not isinstance(items, list | tuple):
            source = f"the result of '{arg.value.task_id}'" if isinstance(arg.value, Operator) else "it"
            raise MapError(f"cannot map over argument {arg.name!r}: {source} is a {type(items).__name__}, not a list")
        if index >= len(items):
            raise MapError(f"argument {arg.name!r} has {len(items)} items, no item {index}")
        return items[index]

    def execute(self, ctx: Context) -> object:
        """A mapped node runs as its instances; the engine never runs the node itself."""
        raise RuntimeError(f"task '{self.task_id}' is mapped: it runs as instances {self.task_id}[i]")


class MappedInstance(PythonOperator):
    """One instance of a mapped node (``fetch[3]``): the node's function called with item ``index``.

    Built by the worker for one try; it joins no pipeline and keeps the node's options.
    """

    def __init__(self, node: MappedOperator, index: int, args: Sequence[object], kwargs: Mapping[str, object]) -> None:
        # Not Operator.__init__: an instance id is not a task id, and the instance joins no pipeline.
        self.task_id = instance_id(node.task_id, index)
        self.explicit_options = dict(node.explicit_options)
        self.options = node.options
        self.pipeline = node.pipeline
        self.fn = node.fn
        self.args = tuple(args)
        self.kwargs = dict(kwargs)
        self._takes_ctx = node._takes_ctx
        self.node = node
        self.index = index


def mapped_instance(pipeline: Pipeline, task_id: str, index: int, upstream: Mapping[str, object]) -> MappedInstance:
    """Instance ``index`` of the mapped node that ``task_id`` (``fetch[3]``) belongs to in ``pipeline``."""
    parsed = parse_instance_id(task_id)
    node = pipeline.tasks.get(parsed[0]) if parsed else None
    if not isinstance(node, MappedOperator):
        raise LookupError(f"pipeline '{pipeline.id}' has no mapped task for instance '{task_id}' any more")
    return node.instance(index, upstream)


# -- helpers ---------------------------------------------------------------------
def _argument(task_id: str, name: str, value: object) -> _Arg:
    if isinstance(value, unmapped):
        return _Arg(name, value.value, mapped=False)
    return _Arg(name, _literal_items(task_id, name, value), mapped=True)


def _positional_names(fn: Callable[..., object], takes_ctx: bool, n: int) -> list[str]:
    """Names for ``n`` positional arguments: the function's parameter names where known."""
    names: list[str] = []
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    if takes_ctx:
        params = params[1:]
    for i in range(n):
        param = params[i] if i < len(params) else None
        if param is not None and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names.append(param.name)
        else:
            names.append(f"argument {i + 1}")
    return names


def _check_binds(
    task_id: str, fn: Callable[..., object], takes_ctx: bool, n_args: int, kwargs: Mapping[str, object]
) -> None:
    """Raise DefinitionError when ``fn`` cannot be called with these arguments."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(*([None] * (n_args + int(takes_ctx))), **kwargs)
    except TypeError as exc:
        raise DefinitionError(
            f"task '{task_id}': .map() arguments do not fit the function: {exc}", tasks=[task_id]
        ) from None


def _lengths(lengths: Mapping[str, int]) -> str:
    return ", ".join(f"{name} has {n}" for name, n in lengths.items())
