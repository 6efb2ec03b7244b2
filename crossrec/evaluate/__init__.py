"""Metrics, baselines and the cold-start evaluation protocol (DESIGN.md §4)."""
