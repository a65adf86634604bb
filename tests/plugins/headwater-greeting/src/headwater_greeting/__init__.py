"""headwater-greeting: an example plugin with one custom operator."""

__version__ = "0.3.0"
