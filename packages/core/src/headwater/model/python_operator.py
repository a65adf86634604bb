"""PythonOperator and @task: run a Python function, passing upstream results as arguments."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Generic, ParamSpec, TypeVar, overload

from headwater.errors import DefinitionError
from headwater.model.operator import Operator, check_task_id
from headwater.model.options import check_option_names

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from headwater.model.context import Context
    from headwater.model.mapped import MappedOperator
    from headwater.model.options import TaskOptionArgs

P = ParamSpec("P")
R = TypeVar("R")

_CTX_NAMES = frozenset({"ctx", "context"})


def takes_context(fn: Callable[..., object]) -> bool:
    """A function receives ``ctx`` first when its first parameter is named ``ctx`` or ``context``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    return (
        bool(params)
        and params[0].name in _CTX_NAMES
        and params[0].kind
        in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )
    )


def _refs(value: object) -> Iterable[Operator]:
    if isinstance(value, Operator):
        yield value
    elif isinstance(value, list | tuple | set):
        for item in value:
            yield from _refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _refs(item)


def _resolve(value: object, upstream: Mapping[str, object]) -> object:
    if isinstance(value, Operator):
        return upstream.get(value.task_id)
    if isinstance(value, list):
        return [_resolve(v, upstream) for v in value]
    if isinstance(value, tuple):
        return tuple(_resolve(v, upstream) for v in value)
    if isinstance(value, set):
        return {_resolve(v, upstream) for v in value}
    if isinstance(value, dict):
        return {k: _resolve(v, upstream) for k, v in value.items()}
    return value


def check_cache_key(
    cache_key: Callable[..., object],
    args: Sequence[object],
    kwargs: Mapping[str, object],
    *,
    task_id: str,
    pipeline: str | None = None,
) -> None:
    """Raise a DefinitionError if ``cache_key`` cannot be called with the task's arguments."""
    try:
        signature = inspect.signature(cache_key)
    except (TypeError, ValueError):
        return  # a builtin without a signature: called as it is
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        name = getattr(cache_key, "__qualname__", repr(cache_key))
        raise DefinitionError(
            f"task '{task_id}': cache_key {name}{signature} cannot take the task's inputs "
            f"({len(args)} positional{', ' + ', '.join(kwargs) if kwargs else ''}): {exc}",
            pipeline=pipeline,
            tasks=[task_id],
        ) from None


class PythonOperator(Operator):
    """Call ``fn(ctx, *args, **kwargs)``; any argument that is a task becomes that task's result.

    ``ctx`` is passed first when ``fn``'s first parameter is named ``ctx`` or ``context``.
    """

    operator_name = "python"

    def __init__(
        self,
        task_id: str,
        *,
        fn: Callable[..., object],
        args: Sequence[object] = (),
        kwargs: Mapping[str, object] | None = None,
        **options: Unpack[TaskOptionArgs],
    ) -> None:
        if not callable(fn):
            raise DefinitionError(f"task '{task_id}': fn must be callable, got {fn!r}", tasks=[task_id])
        self.fn = fn
        self.args = tuple(args)
        self.kwargs = dict(kwargs or {})
        self._takes_ctx = takes_context(fn)
        super().__init__(task_id, **options)
        if self.options.cache_key is not None:
            pipeline_id = self.pipeline.id if self.pipeline is not None else None
            check_cache_key(self.options.cache_key, self.args, self.kwargs, task_id=task_id, pipeline=pipeline_id)

    def data_dependencies(self) -> Iterable[Operator]:
        yield from _refs(self.args)
        yield from _refs(self.kwargs)

    def call_arguments(self, ctx: Context) -> tuple[list[object], dict[str, object]]:
        """The arguments ``fn`` is called with after ``ctx``: each task replaced by its result.

        A custom ``cache_key`` is called with the same arguments.
        """
        args = [_resolve(a, ctx.upstream) for a in self.args]
        kwargs = {k: _resolve(v, ctx.upstream) for k, v in self.kwargs.items()}
        return args, kwargs

    def execute(self, ctx: Context) -> object:
        args, kwargs = self.call_arguments(ctx)
        if self._takes_ctx:
            return self.fn(ctx, *args, **kwargs)
        return self.fn(*args, **kwargs)

    def describe(self) -> str:
        return f"python {getattr(self.fn, '__qualname__', repr(self.fn))}()"


class TaskFunction(Generic[P, R]):
    """A function decorated with ``@task``. Calling it inside a pipeline block adds a task.

    The task's id is the function's name (``name__2``, ``name__3``... when called
    again in the same pipeline). ``fn`` is the undecorated function.
    """

    def __init__(self, fn: Callable[P, R], options: Mapping[str, object], task_id: str | None = None) -> None:
        check_option_names(options, where=f"@task {fn.__name__}")
        self.fn = fn
        self.options = dict(options)
        self.task_id = check_task_id(task_id or fn.__name__)
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__wrapped__ = fn

    def __call__(self, *args: object, **kwargs: object) -> PythonOperator:
        from headwater.model.pipeline import current_pipeline

        pipeline = current_pipeline()
        if pipeline is None:
            raise DefinitionError(
                f"task '{self.task_id}' was called outside a `with Pipeline(...)` block; "
                f"to call the plain function, use {self.fn.__name__}.fn(...)",
                tasks=[self.task_id],
            )
        task_id = pipeline.unique_task_id(self.task_id)
        return PythonOperator(task_id, fn=self.fn, args=args, kwargs=kwargs, **self.options)  # type: ignore[arg-type]

    def with_options(self, *, id: str | None = None, **options: Unpack[TaskOptionArgs]) -> TaskFunction[P, R]:
        """A copy of this task with ``id`` and any ``@task`` option overridden."""
        return TaskFunction(self.fn, {**self.options, **options}, task_id=id or self.task_id)

    def map(self, *args: object, max_parallel: int | None = None, **kwargs: object) -> MappedOperator:
        """Inside a pipeline block, add one node that runs this task once per item (``id[0]``, ``id[1]``...).

        Every argument is mapped over (zipped) unless wrapped in ``unmapped(...)``; a
        mapped argument is a list or an upstream task's result. ``max_parallel`` limits
        how many instances run at once. Downstream tasks receive the list of results.
        """
        from headwater.model.mapped import MappedOperator
        from headwater.model.pipeline import current_pipeline

        pipeline = current_pipeline()
        if pipeline is None:
            raise DefinitionError(
                f"task '{self.task_id}'.map() was called outside a `with Pipeline(...)` block",
                tasks=[self.task_id],
            )
        task_id = pipeline.unique_task_id(self.task_id)
        return MappedOperator(
            task_id,
            fn=self.fn,
            args=args,
            kwargs=kwargs,
            max_parallel=max_parallel,
            **self.options,  # type: ignore[arg-type]
        )

    def __repr__(self) -> str:
        return f"<task {self.task_id}>"


@overload
def task(fn: Callable[P, R], /) -> TaskFunction[P, R]: ...
@overload
def task(
    *, id: str | None = None, **options: Unpack[TaskOptionArgs]
) -> Callable[[Callable[P, R]], TaskFunction[P, R]]: ...
def task(
    fn: Callable[P, R] | None = None, /, *, id: str | None = None, **options: Unpack[TaskOptionArgs]
) -> TaskFunction[P, R] | Callable[[Callable[P, R]], TaskFunction[P, R]]:
    """Make a function a task: ``@task`` or ``@task(retries=3, timeout="30m", pool="api")``."""
    if fn is not None:
        if not callable(fn):
            raise DefinitionError(f"@task expects a function, got {fn!r}")
        return TaskFunction(fn, options, task_id=id)

    def decorate(f: Callable[P, R]) -> TaskFunction[P, R]:
        return TaskFunction(f, options, task_id=id)

    return decorate
