"""Definitions: pipelines, tasks, trigger rules, retries. Frozen where possible, no I/O."""
