"""The installed version of the core (kept as a literal so `--version` imports nothing)."""

__version__ = "0.1.0"
