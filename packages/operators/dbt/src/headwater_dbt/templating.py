"""``{{ ds }}``-style placeholders in dbt ``vars``: the core's templating applied to every string, nested ones too.

The names and their errors are those of every shipped operator (:func:`headwater.plugin.check_template`,
:func:`headwater.plugin.render_template`); only the walk through the ``vars`` dict is dbt's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from headwater.plugin import check_template, render_template, template_values

if TYPE_CHECKING:
    from headwater import Context


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def check_vars(variables: Mapping[str, object], *, what: str, task_id: str | None = None) -> None:
    """DefinitionError (naming ``what`` and the task) if a ``vars`` string uses a placeholder no run can fill."""
    for text in _strings(variables):
        check_template(text, what=what, task_id=task_id)


def render_vars(variables: Mapping[str, object], ctx: Context) -> dict[str, object]:
    """``variables`` with the placeholders of every string (nested ones too) filled from ``ctx``."""
    values = template_values(ctx)

    def render(value: object) -> object:
        if isinstance(value, str):
            return render_template(value, values, what="dbt vars")
        if isinstance(value, Mapping):
            return {k: render(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [render(v) for v in value]
        return value

    return {key: render(value) for key, value in variables.items()}
