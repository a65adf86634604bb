"""headwater-process: each task try in its own OS process, forked from a warm server."""

__version__ = "0.1.0"
