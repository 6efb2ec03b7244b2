"""The collection summary as rows for a table (Prefect artifact, CLI)."""

from __future__ import annotations


def collect_table(summary: dict) -> list[dict]:
    """One row per input file: read, landed, quarantined, filtered, top reason."""
    rows = []
    for name, src in summary["sources"].items():
        for file, f in src["files"].items():
            top = max(f["quarantined"].items(), key=lambda kv: kv[1], default=("", 0))
            rows.append({"source": name, "file": file, "read": f["read"], "landed": f["landed"],
                         "quarantined": sum(f["quarantined"].values()),
                         "filtered": sum(f["filtered"].values()),
                         "bad_ratio": f["bad_ratio"],
                         "top_reason": f"{top[0]} ({top[1]})" if top[1] else ""})
    return rows
