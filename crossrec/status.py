"""What ``crossrec status`` shows: the last flow runs (from the Prefect API) and the newest
published partitions, model version, champion and click partition (from the data folder)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from crossrec.config import Settings
from crossrec.errors import CrossrecError
from crossrec.layout import Layout
from crossrec.registry import read_registry, versions


def _rows(folder: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in folder.glob("*.parquet"))


def data_status(settings: Settings, n: int = 3) -> list[str]:
    """Lines about the data folder: newest recommendation partitions, model, clicks."""
    data = settings.data_dir
    lines = [f"data folder {data}"]
    layout = Layout(data)
    recs = sorted(layout.recommendations_root.glob("run_date=*/domain=*"), reverse=True)
    if not recs:
        lines.append("  recommendations: none published yet")
    for part in recs[:n]:
        first = next(iter(sorted(part.glob("part-*.parquet"))), None)
        version = (pq.read_table(first, columns=["model_version"])["model_version"][0].as_py()
                   if first is not None and pq.ParquetFile(first).metadata.num_rows else "-")
        lines.append(f"  recommendations {part.parent.name}/{part.name}: {_rows(part):,} rows, "
                     f"model {version}")
    models = versions(layout.models)
    lines.append(f"  newest model version: {models[-1] if models else 'none'}")
    try:
        registry = read_registry(layout.models)
    except CrossrecError as exc:
        lines.append(f"  champion: unknown ({exc})")
    else:
        last = registry.history[-1] if registry.history else None
        lines.append(f"  champion: {registry.champion or 'none'}" + (
            f" (last decision: {last.action} {last.version}: {last.reason})" if last else ""))
    clicks = sorted(layout.clicks_root.glob("event_date=*"))
    lines.append(f"  newest click partition: "
                 f"{f'{clicks[-1].name} ({_rows(clicks[-1]):,} events)' if clicks else 'none'}")
    return lines


def run_status(url: str, n: int = 10) -> list[str]:
    """Lines about the last ``n`` flow runs on the Prefect server at ``url``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import FlowRunSort

    lines = [f"last flow runs on {url}"]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=n)
        names: dict = {}
        for r in runs:
            if r.flow_id not in names:
                names[r.flow_id] = client.read_flow(r.flow_id).name
            start = r.start_time.isoformat(timespec="seconds") if r.start_time else "not started"
            state = r.state.name if r.state else "?"
            lines.append(f"  {names[r.flow_id]:<16} {r.name:<28} {state:<10} {start}")
    if len(lines) == 1:
        lines.append("  no flow runs yet")
    return lines
