"""JSON: the type of values that cross process boundaries (params, results inline, metadata)."""

from __future__ import annotations

JSON = None | bool | int | float | str | list["JSON"] | dict[str, "JSON"]
