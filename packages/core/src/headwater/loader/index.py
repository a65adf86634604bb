"""Find a project's pipelines by id, re-parsing only files that changed since the last scan.

The index (``.headwater/index.json``) maps each definition file's (mtime, size)
to a summary of the pipelines it defines, so ``headwater list`` over an
unchanged folder imports nothing.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from headwater.errors import DefinitionError
from headwater.loader.files import PIPELINE_SUFFIXES, load_file
from headwater.model.pipeline import Pipeline

INDEX_VERSION = 1


@dataclass(frozen=True, slots=True)
class PipelineEntry:
    """What ``headwater list`` shows about a pipeline, without importing its file."""

    id: str
    file: str
    tasks: int
    schedule: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()

    @classmethod
    def of(cls, pipeline: Pipeline, file: str) -> PipelineEntry:
        return cls(
            id=pipeline.id,
            file=file,
            tasks=len(pipeline.tasks),
            schedule=pipeline.schedule,
            description=pipeline.description,
            tags=pipeline.tags,
        )


@dataclass(slots=True)
class ScanResult:
    pipelines: dict[str, PipelineEntry] = field(default_factory=dict)
    errors: list[DefinitionError] = field(default_factory=list)
    parsed: int = 0  # files actually imported in this scan


def pipeline_files(folder: Path) -> list[Path]:
    """Definition files under ``folder`` (recursively), skipping private and hidden names."""
    if not folder.is_dir():
        return []
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
        for name in sorted(files):
            if name.endswith(PIPELINE_SUFFIXES) and not name.startswith((".", "_")):
                found.append(Path(root) / name)
    return found


class PipelineIndex:
    """The pipelines of one folder, cached in ``cache_file``."""

    def __init__(self, folder: Path, cache_file: Path | None) -> None:
        self.folder = folder
        self.cache_file = cache_file

    def _read_cache(self) -> dict[str, dict[str, object]]:
        if self.cache_file is None:
            return {}
        try:
            data = json.loads(self.cache_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
            return {}
        files = data.get("files", {})
        return files if isinstance(files, dict) else {}

    def _write_cache(self, files: dict[str, dict[str, object]]) -> None:
        if self.cache_file is None:
            return
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"version": INDEX_VERSION, "files": files}), encoding="utf-8")
            os.replace(tmp, self.cache_file)
        except OSError:
            pass  # a cache we cannot write only costs time

    def scan(self) -> ScanResult:
        """Every pipeline in the folder; files with errors are reported, not fatal to the others."""
        cached = self._read_cache()
        fresh: dict[str, dict[str, object]] = {}
        result = ScanResult()
        owners: dict[str, str] = {}
        for path in pipeline_files(self.folder):
            key = str(path.resolve())
            st = path.stat()
            sig = [st.st_mtime_ns, st.st_size]
            entry = cached.get(key)
            if entry is None or entry.get("sig") != sig:
                entry = {"sig": sig, "pipelines": [], "error": None}
                try:
                    result.parsed += 1
                    entry["pipelines"] = [asdict(PipelineEntry.of(p, key)) for p in load_file(path)]
                except DefinitionError as exc:
                    entry["error"] = str(exc.located(file=key))
            fresh[key] = entry
            if entry.get("error"):
                result.errors.append(DefinitionError(str(entry["error"])))
                continue
            for raw in entry["pipelines"]:  # type: ignore[attr-defined]
                pe = PipelineEntry(**{**raw, "tags": tuple(raw.get("tags", ()))})
                if pe.id in owners:
                    result.errors.append(
                        DefinitionError(
                            f"duplicate pipeline id '{pe.id}': defined in {owners[pe.id]} and in {key}",
                            pipeline=pe.id,
                        )
                    )
                    continue
                owners[pe.id] = key
                result.pipelines[pe.id] = pe
        if fresh != cached:
            self._write_cache(fresh)
        return result
