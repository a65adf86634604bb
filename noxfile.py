"""The test matrix: one session per package, the cross-package integration tests, and lint.

``nox`` runs them all; ``nox -s core`` one. Each session builds a fresh virtualenv and installs
only what it tests, from the working tree: non-editable for tests, so the built wheels are what is
tested; editable for lint, so import-linter reads the working tree.
Tests needing PostgreSQL skip when it is unreachable, unless HEADWATER_REQUIRE_SERVICES=1
(``.ci/run`` sets it): the environment is passed through to every command.
"""

from __future__ import annotations

import nox
import nox.command

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "no"
nox.options.error_on_missing_interpreters = True
PLUGINS = {  # session name -> the plugin package it tests (operators and notifiers)
    "postgres": "./packages/operators/postgres",
    "s3": "./packages/operators/s3",
    "http": "./packages/operators/http",
    "dbt": "./packages/operators/dbt",
    "snowflake": "./packages/operators/snowflake",
    "slack": "./packages/notifiers/slack",
    "email": "./packages/notifiers/email",
}
nox.options.sessions = ["core", "local", "process", *PLUGINS, "integration", "lint"]

PYTHON = "3.11"
CORE = "./packages/core"
LOCAL = "./packages/executors/local"
PROCESS = "./packages/executors/process"
GREETING = "./tests/plugins/headwater-greeting"
# Our own distributions: always rebuilt from the working tree, never taken from uv's cache.
OWN_DISTS = (
    "headwater",
    "headwater-local",
    "headwater-process",
    "headwater-greeting",
    *(f"headwater-{name}" for name in PLUGINS),
)


def install(session: nox.Session, *requirements: str) -> None:
    """Install in one resolver call, so ``headwater>=0.1`` in a plugin is satisfied by ./packages/core."""
    fresh: list[str] = []
    if session.venv_backend == "uv":
        for dist in OWN_DISTS:
            fresh += ["--reinstall-package", dist]
    session.install(*fresh, *requirements)


@nox.session(python=PYTHON)
def core(session: nox.Session) -> None:
    """The core package's own tests, once on SQLite and once more with every run stored in PostgreSQL."""
    install(session, f"{CORE}[test]")
    session.run("pytest", "packages/core/tests", *session.posargs)
    session.run("pytest", "packages/core/tests", *session.posargs, env={"HEADWATER_TEST_DB": "postgresql"})


@nox.session(python=PYTHON)
def local(session: nox.Session) -> None:
    """The local (thread-pool) executor's tests, including the executor conformance suite."""
    install(session, CORE, f"{LOCAL}[test]")
    session.run("pytest", "packages/executors/local/tests", *session.posargs)


@nox.session(python=PYTHON)
def process(session: nox.Session) -> None:
    """The process executor's tests, including the executor conformance suite."""
    install(session, CORE, f"{PROCESS}[test]")
    session.run("pytest", "packages/executors/process/tests", *session.posargs)


def _plugin_session(name: str, path: str) -> None:
    @nox.session(python=PYTHON, name=name)
    def plugin(session: nox.Session) -> None:
        install(session, CORE, f"{path}[test]")
        session.run("pytest", f"{path}/tests", *session.posargs)

    plugin.__doc__ = f"The {name} plugin's tests (only the core, the plugin and its test needs installed)."


for _name, _path in PLUGINS.items():
    _plugin_session(_name, _path)


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """Cross-package tests with every package installed, plus the example third-party plugin."""
    install(
        session,
        f"{CORE}[test]",
        LOCAL,
        PROCESS,
        GREETING,
        *(f"{path}[test]" for path in PLUGINS.values()),
        # the production warehouse example builds its dbt models in (fake) Snowflake; pinned with
        # dbt-core 1.11 (dbt-core 1.12's parser dependency does not build here)
        "dbt-snowflake~=1.11.0",
    )
    session.run("pytest", "tests", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (lint and format), mypy (strict) on the packages' sources, import-linter's layering contracts."""
    install(  # editable: import-linter analyses the installed packages, which must be the working tree
        session,
        "-e",
        f"{CORE}[test]",
        "-e",
        LOCAL,
        "-e",
        PROCESS,
        *(arg for name, path in PLUGINS.items() if name != "dbt" for arg in ("-e", f"{path}[test]")),
        "ruff>=0.17.6,<0.18",
        "mypy>=2.4,<2.5",
        "import-linter>=2.17,<3",
        "types-PyYAML",
        "types-croniter",
    )
    # dbt-core pins pathspec<0.13, mypy needs pathspec>=1: the dbt plugin without its dependencies
    # (its sources import dbt only lazily, through importlib, so mypy never needs dbt itself).
    session.install("--no-deps", "-e", PLUGINS["dbt"])
    checks = [
        ("ruff", "check", "."),
        ("ruff", "format", "--check", "."),
        (
            "mypy",
            "packages/core/src",
            "packages/executors/local/src",
            f"{PROCESS}/src",
            f"{GREETING}/src",
            *(f"{path}/src" for path in PLUGINS.values()),
        ),
        ("lint-imports", "--no-cache"),
    ]
    failed: list[str] = []
    for check in checks:  # run every check, so one run reports every problem
        try:
            session.run(*check)
        except nox.command.CommandFailed:
            failed.append(" ".join(check))
    if failed:
        session.error("failed: " + "; ".join(failed))
