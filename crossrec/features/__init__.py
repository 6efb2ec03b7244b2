"""Feature build: runs the ``sql/`` models in declared order against the DuckDB warehouse."""
