"""Project configuration: headwater.toml or [tool.headwater], HEADWATER_ENV sections, HEADWATER_<KEY> overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater import ConfigError
from headwater.config.settings import DEFAULT_DB, load_project


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_headwater_toml(tmp_path: Path) -> None:
    config = _write(
        tmp_path / "headwater.toml",
        'pipelines = "flows/"\nexecutor = "inline"\nconcurrency = 4\n[pools]\napi = 2\n',
    )
    project = load_project(tmp_path, environ={})
    assert project.root == tmp_path.resolve()
    assert project.source == str(config.resolve())
    s = project.settings
    assert (s.pipelines, s.executor, s.concurrency, s.pools) == ("flows/", "inline", 4, {"api": 2})
    assert s.db == DEFAULT_DB
    assert project.pipelines_dir == tmp_path.resolve() / "flows"


def test_found_from_a_subdirectory(tmp_path: Path) -> None:
    _write(tmp_path / "headwater.toml", "concurrency = 3\n")
    nested = tmp_path / "pipelines" / "deep"
    nested.mkdir(parents=True)
    project = load_project(nested, environ={})
    assert project.root == tmp_path.resolve()
    assert project.settings.concurrency == 3


def test_tool_headwater_in_pyproject(tmp_path: Path) -> None:
    _write(
        tmp_path / "pyproject.toml",
        '[project]\nname = "etl"\n\n[tool.headwater]\ndb = "sqlite:///state.db"\nconcurrency = 8\n',
    )
    project = load_project(tmp_path, environ={})
    assert project.source == str((tmp_path / "pyproject.toml").resolve())
    assert (project.settings.db, project.settings.concurrency) == ("sqlite:///state.db", 8)


def test_headwater_env_picks_a_section(tmp_path: Path) -> None:
    _write(
        tmp_path / "headwater.toml",
        'concurrency = 4\nalerting = false\n[env.prod]\ndb = "postgresql+psycopg://u@db/hw"\nconcurrency = 20\n',
    )
    dev = load_project(tmp_path, environ={}).settings
    assert (dev.db, dev.concurrency, dev.alerting) == (DEFAULT_DB, 4, False)
    prod = load_project(tmp_path, environ={"HEADWATER_ENV": "prod"}).settings
    assert (prod.db, prod.concurrency, prod.alerting) == ("postgresql+psycopg://u@db/hw", 20, False)


def test_unknown_headwater_env_section(tmp_path: Path) -> None:
    _write(tmp_path / "headwater.toml", "[env.prod]\nconcurrency = 20\n")
    with pytest.raises(ConfigError, match=r"HEADWATER_ENV='staging': no \[env.staging\] section .*known: prod"):
        load_project(tmp_path, environ={"HEADWATER_ENV": "staging"})


def test_environment_variables_override_the_file(tmp_path: Path) -> None:
    _write(
        tmp_path / "headwater.toml", 'db = "sqlite:///file.db"\nconcurrency = 4\n[env.prod]\ndb = "sqlite:///prod.db"\n'
    )
    env = {"HEADWATER_ENV": "prod", "HEADWATER_DB": "sqlite:///from-env.db", "HEADWATER_CONCURRENCY": "7"}
    settings = load_project(tmp_path, environ=env).settings
    assert (settings.db, settings.concurrency) == ("sqlite:///from-env.db", 7)


def test_defaults_without_a_config_file(tmp_path: Path) -> None:
    project = load_project(tmp_path, environ={"HEADWATER_DB": "sqlite:///x.db"})
    assert project.source is None
    assert project.settings.db == "sqlite:///x.db"
    assert project.settings.executor == "local"


def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    config = _write(tmp_path / "headwater.toml", "concurency = 4\n")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path, environ={})
    message = str(info.value)
    assert "concurency" in message
    assert str(config.resolve()) in message


def test_bad_value_names_the_key(tmp_path: Path) -> None:
    _write(tmp_path / "headwater.toml", "[pools]\napi = 0\n")
    with pytest.raises(ConfigError, match="pool 'api' must have at least 1 slot"):
        load_project(tmp_path, environ={})


def test_invalid_toml(tmp_path: Path) -> None:
    config = _write(tmp_path / "headwater.toml", "concurrency = = 4\n")
    with pytest.raises(ConfigError, match="invalid TOML") as info:
        load_project(tmp_path, environ={})
    assert str(config.resolve()) in str(info.value)


def test_a_results_url_is_kept_and_a_folder_is_resolved_in_the_project(tmp_path: Path) -> None:
    from headwater.config.settings import Project, Settings

    assert Project(tmp_path, Settings(results="s3://lake/results?conn=aws"), None).results_url == (
        "s3://lake/results?conn=aws"
    )
    assert Project(tmp_path, Settings(results="out/results"), None).results_url == str(tmp_path / "out/results")
