"""``{{ ds }}``-style placeholders in endpoints, params, bodies and output paths: the core's templating.

The names and their errors are those of every shipped operator (:func:`headwater.plugin.check_template`,
:func:`headwater.plugin.render_template`); only the walk through params and JSON bodies is this package's.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from headwater.plugin import check_template, render_template, template_values

if TYPE_CHECKING:
    from headwater import Context


def check(value: object, *, what: str, task_id: str) -> None:
    """Raise a DefinitionError if a string inside ``value`` names a placeholder no run can fill."""
    for text in _strings(value):
        check_template(text, what=what, task_id=task_id)


def render(value: object, ctx: Context, *, what: str) -> object:
    """``value`` with every placeholder in its strings (nested in lists and dicts too) filled from ``ctx``."""
    values = template_values(ctx)

    def fill(item: object) -> object:
        if isinstance(item, str):
            return render_template(item, values, what=what) if "{{" in item else item
        if isinstance(item, Mapping):
            return {k: fill(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [fill(v) for v in item]
        return item

    return fill(value)


def render_str(value: str, ctx: Context, *, what: str) -> str:
    """:func:`render` for a single string."""
    return render_template(value, ctx, what=what) if "{{" in value else value


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
