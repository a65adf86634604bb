"""Decides what runs: the run engine (and, later, the scheduler and backfills)."""
