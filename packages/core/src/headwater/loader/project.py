"""Resolve a CLI target (a pipeline file, a pipeline id, or a run id) to a pipeline."""

from __future__ import annotations

from pathlib import Path

from headwater.config.settings import Project
from headwater.errors import DefinitionError, UsageError
from headwater.loader.files import PIPELINE_SUFFIXES, load_file, load_pipeline
from headwater.loader.index import PipelineIndex, ScanResult
from headwater.model.pipeline import Pipeline


def project_index(project: Project) -> PipelineIndex:
    return PipelineIndex(project.pipelines_dir, project.state_dir / "index.json")


def scan(project: Project) -> ScanResult:
    return project_index(project).scan()


def looks_like_file(target: str) -> bool:
    return target.endswith(PIPELINE_SUFFIXES) or "/" in target or Path(target).is_file()


def pipeline_from_file(path: Path, pipeline_id: str | None = None) -> Pipeline:
    if not path.is_file():
        raise UsageError(f"no such pipeline file: {path}")
    pipelines = load_file(path)
    if pipeline_id is not None:
        return load_pipeline(path, pipeline_id)
    if not pipelines:
        raise DefinitionError("the file defines no pipeline (create one with `with Pipeline(...)`)", file=str(path))
    if len(pipelines) > 1:
        ids = ", ".join(p.id for p in pipelines)
        raise UsageError(f"{path} defines several pipelines ({ids}): name one by its id")
    return pipelines[0]


def find_pipeline(project: Project, target: str) -> Pipeline:
    """The pipeline ``target`` names: a definition file, or an id in the project's pipelines folder.

    A pipeline whose triggers cannot work in ``project`` (an unknown connection or asset) is a
    DefinitionError here too, so every command refuses it, not only the scheduler.
    """
    pipeline = _find_pipeline(project, target)
    if pipeline.triggers:
        from headwater.engine.events.triggers import check_triggers

        check_triggers(pipeline, project)
    return pipeline


def _find_pipeline(project: Project, target: str) -> Pipeline:
    if looks_like_file(target):
        return pipeline_from_file(Path(target).resolve())
    result = scan(project)
    for error in result.errors:
        if error.pipeline == target:  # e.g. the id is defined in two files
            raise error
    entry = result.pipelines.get(target)
    if entry is None:
        for error in result.errors:  # the pipeline may live in a file that does not load
            if f"'{target}'" in str(error):
                raise error
        known = ", ".join(sorted(result.pipelines)) or "none"
        message = f"no pipeline '{target}' in {project.pipelines_dir} (known: {known})"
        if target == "assets":
            message += "; assets are run with `headwater materialize ASSET [--partition P]`"
        if result.errors:  # the pipeline may be in one of them: show why they fail
            message += f"; {len(result.errors)} file(s) failed to load:\n" + "\n".join(f"  {e}" for e in result.errors)
        raise UsageError(message)
    return load_pipeline(entry.file, entry.id)
