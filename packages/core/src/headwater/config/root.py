"""Where a project is: the nearest directory holding headwater.toml (or [tool.headwater] in pyproject.toml)."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "headwater.toml"


def find_root(start: Path) -> tuple[Path, Path | None]:
    """The nearest directory (from ``start`` up) with headwater.toml or [tool.headwater]."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_FILE
        if candidate.is_file():
            return directory, candidate
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file() and "[tool.headwater" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return directory, pyproject
    return start, None


def project_root_of(file: str | Path | None) -> Path:
    """The project directory a definition file belongs to (the nearest headwater.toml above it), else the cwd."""
    if not file:
        return Path.cwd()
    root, config = find_root(Path(file).resolve().parent)
    return root if config is not None else Path.cwd()
