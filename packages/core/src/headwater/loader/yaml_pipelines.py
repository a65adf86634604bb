"""Pipelines declared in YAML, naming operators by their registered names.

```yaml
id: refresh
schedule: "0 6 * * *"
default_args: {retries: 2, retry_delay: 5m}
tasks:
  - id: extract
    operator: bash
    command: ./extract.sh
  - id: greet
    operator: greeting.hello
    name: Ada
    depends_on: [extract]
```

``schedule`` may also be event triggers: ``{file_arrival: "landing/*.csv", debounce: 60s}``,
``{asset_updated: [stg_orders]}``, ``{webhook: orders_ready}``,
``{database_change: {conn: warehouse, channel: orders_changed}}``, or a list of them.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from headwater.errors import DefinitionError, PluginError
from headwater.model.options import OPTION_NAMES
from headwater.model.pipeline import Pipeline

if TYPE_CHECKING:
    from headwater.model.triggers import Trigger


class _TaskSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    operator: str
    depends_on: list[str] = Field(default_factory=list)


class _DatabaseChangeSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conn: str
    channel: str


class _TriggerSpec(BaseModel):
    """One event trigger: exactly one of the kinds, and an optional debounce."""

    model_config = ConfigDict(extra="forbid")

    file_arrival: str | None = None
    asset_updated: list[str] | str | None = None
    webhook: str | None = None
    database_change: _DatabaseChangeSpec | None = None
    debounce: str | float | None = None

    def build(self) -> Trigger:
        from headwater.model.triggers import AssetUpdated, DatabaseChange, FileArrival, Webhook

        given = [k for k in ("file_arrival", "asset_updated", "webhook", "database_change") if getattr(self, k)]
        if len(given) != 1:
            raise DefinitionError(
                "schedule: a trigger names exactly one of file_arrival, asset_updated, webhook, database_change"
                + (f" (got {', '.join(given)})" if given else "")
            )
        debounce = {} if self.debounce is None else {"debounce": self.debounce}
        if self.file_arrival is not None:
            return FileArrival(self.file_arrival, **debounce)
        if self.asset_updated is not None:
            assets = [self.asset_updated] if isinstance(self.asset_updated, str) else self.asset_updated
            return AssetUpdated(assets, **debounce)
        if self.webhook is not None:
            return Webhook(self.webhook, **debounce)
        assert self.database_change is not None
        return DatabaseChange(self.database_change.conn, self.database_change.channel, **debounce)


class _PipelineSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    #: a cron string or preset, or event triggers (one or a list)
    schedule: str | _TriggerSpec | list[_TriggerSpec] | None = None
    start_date: str | None = None
    end_date: str | None = None
    timezone: str = "UTC"
    catchup: bool = False
    max_active_runs: int = 1
    timeout: str | float | None = None
    default_args: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)
    deadline: str | float | None = None
    description: str | None = None
    tasks: list[_TaskSpec]


def load_yaml(path: Path) -> list[Pipeline]:
    """Every pipeline in a YAML file (one per YAML document)."""
    import yaml

    try:
        documents = [d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_loader()) if d is not None]
    except yaml.YAMLError as exc:
        raise DefinitionError(f"invalid YAML: {exc}", file=str(path)) from None
    return [_build(doc, path) for doc in documents]


_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")


@cache
def _loader() -> type[Any]:
    """YAML's safe loader, except that ``18:30`` stays a string (YAML 1.1 reads it as the number 1110)."""
    import yaml

    base: Any = yaml.SafeLoader.resolve  # untyped in the stubs

    class Loader(yaml.SafeLoader):
        def resolve(self, kind: type[Any], value: Any, implicit: Any) -> Any:
            if kind is yaml.ScalarNode and implicit[0] and _SEXAGESIMAL.fullmatch(value):
                return "tag:yaml.org,2002:str"  # a time of day such as `deadline: 18:30`
            return base(self, kind, value, implicit)

    return Loader


def _build(doc: object, path: Path) -> Pipeline:
    pipeline_id = doc.get("id") if isinstance(doc, dict) else None
    try:
        spec = _PipelineSpec.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'document'}: {err['msg']}" for err in exc.errors()
        )
        raise DefinitionError(problems, file=str(path), pipeline=pipeline_id) from None
    from headwater.plugin.registry import load_operator

    fields: dict[str, Any] = spec.model_dump(exclude={"tasks", "schedule"})
    try:
        if isinstance(spec.schedule, _TriggerSpec):
            fields["schedule"] = spec.schedule.build()
        elif isinstance(spec.schedule, list):
            fields["schedule"] = [t.build() for t in spec.schedule]
        else:
            fields["schedule"] = spec.schedule
    except DefinitionError as exc:
        raise exc.located(file=str(path), pipeline=spec.id) from None
    with Pipeline(**fields) as pipeline:
        for task in spec.tasks:
            extra = dict(task.model_extra or {})
            try:
                cls = load_operator(task.operator)
            except (DefinitionError, PluginError) as exc:
                raise DefinitionError(
                    f"task '{task.id}': {exc}", file=str(path), pipeline=spec.id, tasks=[task.id]
                ) from None
            if task.operator == "python" and isinstance(extra.get("fn"), str):
                from headwater.plugin.manager import import_target

                extra["fn"] = import_target(extra["fn"], what=f"task '{task.id}' fn")
            options = {k: v for k, v in extra.items() if k in OPTION_NAMES}
            arguments = {k: v for k, v in extra.items() if k not in OPTION_NAMES}
            try:
                cls(task.id, **arguments, **options)
            except TypeError as exc:
                raise DefinitionError(
                    f"task '{task.id}' (operator '{task.operator}'): {exc}",
                    file=str(path),
                    pipeline=spec.id,
                    tasks=[task.id],
                ) from None
        for task in spec.tasks:
            for upstream in task.depends_on:
                pipeline.set_dependency(upstream, task.id)
    return pipeline
