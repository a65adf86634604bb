"""A third-party operator plugin, installed like any package (tests/plugins/headwater-greeting), used end to end.

The ``integration`` nox session installs that package (non-editable); without it these tests skip.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from importlib import metadata
from pathlib import Path

import pytest

from headwater import Operator, Pipeline, task
from headwater.errors import DefinitionError
from headwater.plugin import Kind, Registration, get_manager, hookimpl, load_operator
from headwater.plugin.manager import PluginManager
from headwater.testing import run_pipeline

try:
    GREETING_VERSION = metadata.version("headwater-greeting")
except metadata.PackageNotFoundError:
    pytest.skip(
        "the example plugin is not installed: `nox -s integration` installs tests/plugins/headwater-greeting",
        allow_module_level=True,
    )

HELLO = Registration(
    kind=Kind.OPERATOR, name="greeting.hello", target="headwater_greeting.operators:GreetOperator", plugin="greeting"
)


def run_python(code: str, **env: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter (fresh plugin manager and sys.modules); it prints one JSON object."""
    environ = {k: v for k, v in os.environ.items() if k != "HEADWATER_DISABLE_PLUGINS"}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def test_plugins_lists_the_installed_plugin_with_its_version_and_registration() -> None:
    plugins = {p.name: p for p in get_manager().plugins()}

    greeting = plugins["greeting"]
    assert greeting.dist == "headwater-greeting"
    assert greeting.version == GREETING_VERSION == "0.3.0"
    assert greeting.error is None
    assert not greeting.disabled
    assert greeting.registrations == [HELLO]
    assert "greeting.hello" in get_manager().names(Kind.OPERATOR)


def test_operator_module_is_imported_only_when_the_operator_is_used() -> None:
    seen = run_python(
        """
        import json, sys
        from headwater.plugin import Kind, get_manager, load_operator

        names = get_manager().names(Kind.OPERATOR)
        before = "headwater_greeting.operators" in sys.modules
        cls = load_operator("greeting.hello")
        after = "headwater_greeting.operators" in sys.modules
        print(json.dumps({"names": names, "before": before, "after": after, "cls": cls.__qualname__}))
        """
    )
    assert "greeting.hello" in seen["names"]  # type: ignore[operator]
    assert seen["before"] is False
    assert seen["after"] is True
    assert seen["cls"] == "GreetOperator"


@pytest.mark.parametrize("executor", ["inline", "local"])
def test_pipeline_uses_the_custom_operator(executor: str) -> None:
    greet = load_operator("greeting.hello")
    assert issubclass(greet, Operator)

    @task
    def shout(greeting: str) -> str:
        return greeting.upper() + "!"

    with Pipeline(f"greeting_{executor}") as pipeline:
        shout(greet("say_hi", name="Ada"))  # type: ignore[call-arg]

    run = run_pipeline(pipeline, executor=executor)

    assert run.ok, run.summary
    assert run.results["say_hi"] == "hello Ada"
    assert run.results["shout"] == "HELLO ADA!"


def test_disabled_plugin_is_listed_but_provides_nothing() -> None:
    seen = run_python(
        """
        import json
        from headwater.errors import DefinitionError
        from headwater.plugin import get_manager, load_operator

        info = {p.name: p for p in get_manager().plugins()}["greeting"]
        try:
            load_operator("greeting.hello")
            error = None
        except DefinitionError as exc:
            error = str(exc)
        print(json.dumps({"disabled": info.disabled, "registrations": len(info.registrations), "error": error}))
        """,
        HEADWATER_DISABLE_PLUGINS="other, greeting",
    )
    assert seen["disabled"] is True
    assert seen["registrations"] == 0
    assert "no installed plugin provides the operator 'greeting.hello'" in str(seen["error"])


def test_plugin_whose_hook_raises_is_reported_and_others_still_load() -> None:
    broken = types.ModuleType("broken_plugin")

    @hookimpl
    def headwater_register_operators(register: object) -> None:
        raise RuntimeError("boom: missing configuration")

    broken.headwater_register_operators = headwater_register_operators  # type: ignore[attr-defined]

    import headwater_greeting.plugin as greeting

    manager = PluginManager(entry_points=False)
    manager.register_module(broken, name="broken", dist="broken-plugin", version="1.0")
    manager.register_module(greeting, name="greeting", dist="headwater-greeting", version=GREETING_VERSION)

    plugins = {p.name: p for p in manager.plugins()}
    assert plugins["broken"].error is not None
    assert "RuntimeError: boom: missing configuration" in plugins["broken"].error
    assert plugins["broken"].registrations == []
    assert plugins["greeting"].error is None
    assert plugins["greeting"].registrations == [HELLO]
    assert plugins["headwater"].error is None
    assert {"greeting.hello", "bash", "python"} <= set(manager.names(Kind.OPERATOR))


def test_plugin_whose_module_fails_to_import_is_reported_and_others_still_load(tmp_path: Path) -> None:
    # A distribution on sys.path declaring a `headwater` entry point whose module raises on import.
    (tmp_path / "broken_on_import.py").write_text("raise ImportError('needs libfoo')\n")
    dist_info = tmp_path / "broken_on_import-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-on-import\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[headwater]\nbroken = broken_on_import\n")

    seen = run_python(
        """
        import json
        from headwater.plugin import get_manager, load_operator

        info = {p.name: {"error": p.error, "version": p.version} for p in get_manager().plugins()}
        cls = load_operator("greeting.hello")
        print(json.dumps({"plugins": info, "cls": cls.__qualname__}))
        """,
        PYTHONPATH=str(tmp_path),
    )
    plugins: dict[str, dict[str, str | None]] = seen["plugins"]  # type: ignore[assignment]
    assert plugins["broken"] == {"error": "ImportError: needs libfoo", "version": "1.0"}
    assert plugins["greeting"]["error"] is None
    assert seen["cls"] == "GreetOperator"


def test_unknown_operator_names_what_is_installed() -> None:
    with pytest.raises(DefinitionError, match=r"greeting\.goodbye.*greeting\.hello"):
        load_operator("greeting.goodbye")
