"""The flow's task runner, chosen by a setting rather than by code: a thread pool by
default, or ``prefect-dask``'s ``DaskTaskRunner`` on a local cluster of worker processes."""

from __future__ import annotations

from prefect.task_runners import ThreadPoolTaskRunner

from crossrec.config import Settings
from crossrec.errors import ConfigError

DASK_WORKERS = 2


def task_runner(settings: Settings):
    """A fresh task runner for one flow run, as ``[run] task_runner`` says."""
    run = settings.run
    if run.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=run.workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as exc:
        raise ConfigError("[run] task_runner = \"dask\" needs prefect-dask: "
                          "pip install 'crossrec[dask]'") from exc
    # one thread per worker process: torch and the top-N kernel use the cores themselves
    return DaskTaskRunner(cluster_kwargs={"n_workers": run.workers or DASK_WORKERS,
                                          "processes": True, "threads_per_worker": 1,
                                          "dashboard_address": None})
