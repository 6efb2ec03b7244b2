"""Metrics, baselines and the cold-start evaluation protocol (docs/architecture.md)."""
