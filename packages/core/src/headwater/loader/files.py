"""Load the pipelines a file defines, once per file version, naming the file in every error."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import threading
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from headwater.errors import DefinitionError
from headwater.model.pipeline import ASSETS_PIPELINE_ID, Pipeline, collect_pipelines

if TYPE_CHECKING:
    from headwater.model.asset import AssetDefinition

#: file -> (signature, pipelines, assets it defines)
_cache: dict[str, tuple[tuple[int, int], list[Pipeline], list[AssetDefinition]]] = {}
_memory: dict[str, Pipeline] = {}
_lock = threading.RLock()

PIPELINE_SUFFIXES = (".py", ".yaml", ".yml")


def remember(pipeline: Pipeline) -> None:
    """Make an in-memory pipeline (one without a file) resolvable by id in this process."""
    _memory[pipeline.id] = pipeline


def _signature(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size


def load_file(path: str | Path) -> list[Pipeline]:
    """Every pipeline ``path`` defines (re-imported only if the file changed)."""
    return _load(path)[0]


def load_assets(path: str | Path) -> list[AssetDefinition]:
    """Every asset ``path`` defines at module level (its function is defined in that file)."""
    return _load(path)[1]


def _load(path: str | Path) -> tuple[list[Pipeline], list[AssetDefinition]]:
    path = Path(path).resolve()
    key = str(path)
    try:
        sig = _signature(path)
    except OSError as exc:
        raise DefinitionError(f"cannot read pipeline file: {exc.strerror}", file=key) from None
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == sig:
            return cached[1], cached[2]
        assets: list[AssetDefinition] = []
        try:
            if path.suffix in (".yaml", ".yml"):
                from headwater.loader.yaml_pipelines import load_yaml

                pipelines = load_yaml(path)
            else:
                pipelines, assets = _load_python(path)
        except DefinitionError as exc:
            raise exc.located(file=key) from None
        for pipeline in pipelines:
            pipeline.file = key
        seen: dict[str, Pipeline] = {}
        for pipeline in pipelines:
            if pipeline.id in seen:
                raise DefinitionError(f"duplicate pipeline id '{pipeline.id}' in one file", file=key)
            seen[pipeline.id] = pipeline
        _cache[key] = (sig, pipelines, assets)
        return pipelines, assets


def _load_python(path: Path) -> tuple[list[Pipeline], list[AssetDefinition]]:
    key = str(path)
    digest = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:10]
    module_name = f"headwater_pipelines.{path.stem}_{digest}"
    directory = str(path.parent)
    if directory not in sys.path:
        sys.path.insert(0, directory)  # let pipeline files import their neighbours
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError("not a Python file", file=key)
    module = importlib.util.module_from_spec(spec)
    from headwater.model.asset import collect_assets

    with collect_pipelines() as found, collect_assets() as assets:
        try:
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except DefinitionError as exc:
            sys.modules.pop(module_name, None)
            raise exc.located(file=key) from None
        except SyntaxError as exc:
            sys.modules.pop(module_name, None)
            raise DefinitionError(f"syntax error on line {exc.lineno}: {exc.msg}", file=key) from None
        except Exception as exc:
            sys.modules.pop(module_name, None)
            line = _user_line(exc, key)
            raise DefinitionError(f"error while loading{line}: {type(exc).__name__}: {exc}", file=key) from None
    # An asset belongs to the file defining its function (not to files importing it from another).
    own: dict[str, AssetDefinition] = {}
    for definition in assets:
        if getattr(definition.fn, "__module__", None) != module_name:
            continue
        if definition.key in own and own[definition.key] is not definition:
            raise DefinitionError(
                f"duplicate asset key '{definition.key}' in one file", file=key, tasks=[definition.key]
            )
        own[definition.key] = definition
    return list(found), list(own.values())


def _user_line(exc: BaseException, filename: str) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    return f" (line {frames[-1].lineno})" if frames else ""


def load_pipeline(path: str | Path | None, pipeline_id: str) -> Pipeline:
    """The pipeline ``pipeline_id`` from ``path`` (or from memory when ``path`` is None)."""
    if pipeline_id == ASSETS_PIPELINE_ID and path is not None and Path(path).is_dir():
        from headwater.loader.assets import asset_pipeline, load_asset_graph

        return asset_pipeline(load_asset_graph(path))
    if path is None:
        if pipeline_id in _memory:
            return _memory[pipeline_id]
        raise DefinitionError(f"pipeline '{pipeline_id}' has no definition file and is not loaded here")
    for pipeline in load_file(path):
        if pipeline.id == pipeline_id:
            return pipeline
    raise DefinitionError(f"the file no longer defines pipeline '{pipeline_id}'", file=str(path))
