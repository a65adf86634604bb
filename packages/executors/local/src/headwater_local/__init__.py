"""headwater-local: the default thread-pool executor."""

__version__ = "0.1.0"
