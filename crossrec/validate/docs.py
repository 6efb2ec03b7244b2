"""Human-readable output of the gate: GX Data Docs pages per run and a markdown summary.

The pages are rendered with GX's own Data Docs renderer (``ValidationResultsPageRenderer`` +
``DefaultJinjaPageView``) straight from each suite's validation result, so no file-backed GX
project is needed; an ``index.html`` links them and lists every failed expectation.
"""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import Any

from great_expectations.render.renderer import ValidationResultsPageRenderer
from great_expectations.render.view import DefaultJinjaPageView


def page_name(suite: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", suite) + ".html"


def failure_rows(suites: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One flat row per failed expectation: suite, expectation, column, observed, examples."""
    rows = []
    for s in suites:
        for f in s["failures"]:
            column = f.get("column")
            rows.append({
                "suite": s["suite"],
                "expectation": f["expectation"],
                "column": ", ".join(column) if isinstance(column, list) else str(column or ""),
                "observed": str(f.get("observed")),
                "examples": ", ".join(f.get("examples") or []),
                "note": f.get("note") or "",
            })
    return rows


def write_data_docs(out_dir: Path, run_date: str, suites: list[dict[str, Any]],
                    raw_results: dict[str, Any], notes: list[str]) -> Path:
    """Replace ``out_dir`` with one Data Docs page per suite plus ``index.html``; returns it."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    renderer, view = ValidationResultsPageRenderer(), DefaultJinjaPageView()
    for name, result in raw_results.items():
        (out_dir / page_name(name)).write_text(view.render(renderer.render(result)))
    esc = html.escape
    ok = all(s["success"] for s in suites)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>crossrec validation {esc(run_date)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
        ".fail{color:#b00020}.ok{color:#1b5e20}</style></head><body>",
        f"<h1>Validation of run {esc(run_date)}: "
        f"<span class='{'ok' if ok else 'fail'}'>{'passed' if ok else 'FAILED'}</span></h1>",
        "<h2>Suites</h2><table><tr><th>suite</th><th>rows</th><th>status</th>"
        "<th>failed expectations</th></tr>",
    ]
    for s in suites:
        link = (f"<a href='{esc(page_name(s['suite']))}'>{esc(s['suite'])}</a>"
                if s["suite"] in raw_results else esc(s["suite"]))
        status = "<span class='ok'>passed</span>" if s["success"] else \
            "<span class='fail'>failed</span>"
        parts.append(f"<tr><td>{link}</td><td>{s['rows']}</td><td>{status}</td>"
                     f"<td>{len(s['failures'])}</td></tr>")
    parts.append("</table>")
    rows = failure_rows(suites)
    if rows:
        parts.append("<h2>Failed expectations</h2><table><tr>"
                     + "".join(f"<th>{k}</th>" for k in rows[0]) + "</tr>")
        for r in rows:
            parts.append("<tr>" + "".join(f"<td class='fail'>{esc(v)}</td>" if k == "expectation"
                                          else f"<td>{esc(v)}</td>" for k, v in r.items())
                         + "</tr>")
        parts.append("</table>")
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes)
                     + "</ul>")
    parts.append("</body></html>")
    index = out_dir / "index.html"
    index.write_text("\n".join(parts))
    return index


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def summary_markdown(report: dict[str, Any]) -> str:
    """Markdown of a ``validation.json`` report: status, row counts, failed expectations."""
    ok = report["success"]
    lines = [f"# Validation of run {report['run_date']}: {'passed' if ok else 'FAILED'}", ""]
    lines += ["| suite | rows | status | failed |", "|---|---|---|---|"]
    for s in report["suites"]:
        lines.append(f"| {_cell(s['suite'])} | {s['rows']} | {'ok' if s['success'] else 'FAILED'}"
                     f" | {len(s['failures'])} |")
    rows = failure_rows(report["suites"])
    if rows:
        lines += ["", "## Failed expectations", "",
                  "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(_cell(v) for v in r.values()) + " |" for r in rows]
    if report.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report["notes"]]
    if report.get("data_docs"):
        lines += ["", f"Data Docs: `{report['data_docs']}`"]
    return "\n".join(lines) + "\n"
