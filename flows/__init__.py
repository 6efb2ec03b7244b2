"""Prefect flows: thin wiring of crossrec library calls into tasks."""

import os

# Set before Prefect is imported. A fresh PREFECT_HOME migrates its database when the
# ephemeral server first starts, which takes longer than Prefect's default start-up timeout on
# a 2-core box; telemetry cannot reach anything from an offline machine.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
