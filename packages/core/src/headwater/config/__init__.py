"""Configuration: headwater.toml / [tool.headwater], HEADWATER_* overrides, connections."""
