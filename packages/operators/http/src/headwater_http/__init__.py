"""headwater-http: a paginated, retrying, budgeted REST extract (``http.extract``) and an HTTP sensor.

>>> from headwater_http import HttpExtract, Cursor
>>> HttpExtract("products", conn="shop", endpoint="/products", records_path="data",
...             pagination=Cursor(path="meta.next_cursor", param="cursor"), output="products.jsonl")

Names are imported lazily, so ``import headwater_http`` does not import httpx.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "HttpExtract": "headwater_http.extract",
    "HttpSensor": "headwater_http.sensor",
    "PageNumber": "headwater_http.pagination",
    "Cursor": "headwater_http.pagination",
    "LinkHeader": "headwater_http.pagination",
    "HttpConnection": "headwater_http.connection",
    "Clock": "headwater_http.clock",
    "SystemClock": "headwater_http.clock",
    "HttpError": "headwater_http.errors",
    "HttpTransientError": "headwater_http.errors",
    "HttpPermanentError": "headwater_http.errors",
    "HttpStatusError": "headwater_http.errors",
    "SourceShapeError": "headwater_http.errors",
    "PageLimitError": "headwater_http.errors",
    "ResultTooLargeError": "headwater_http.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from headwater_http.clock import Clock as Clock
    from headwater_http.clock import SystemClock as SystemClock
    from headwater_http.connection import HttpConnection as HttpConnection
    from headwater_http.errors import HttpError as HttpError
    from headwater_http.errors import HttpPermanentError as HttpPermanentError
    from headwater_http.errors import HttpStatusError as HttpStatusError
    from headwater_http.errors import HttpTransientError as HttpTransientError
    from headwater_http.errors import PageLimitError as PageLimitError
    from headwater_http.errors import ResultTooLargeError as ResultTooLargeError
    from headwater_http.errors import SourceShapeError as SourceShapeError
    from headwater_http.extract import HttpExtract as HttpExtract
    from headwater_http.pagination import Cursor as Cursor
    from headwater_http.pagination import LinkHeader as LinkHeader
    from headwater_http.pagination import PageNumber as PageNumber
    from headwater_http.sensor import HttpSensor as HttpSensor


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater_http' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
