"""Ingest one day of click logs into ``lake/clicks/event_date=D/``, idempotently.

Inputs: every ``*.jsonl`` / ``*.ndjson`` / ``*.json`` (each maybe ``.gz``) / ``*.parquet`` in
``<drop_dir>/event_date=D/`` plus the configured URLs (downloaded); any other entry of the
folder is listed in the summary's ``skipped_files`` with why. What happens to each record, in order:

1. parsed and field-checked (:mod:`crossrec.clicks.parse`); bad ones are quarantined;
2. quarantined too: timestamps in the future, a ``rec_run_date`` with no published
   recommendations, and any event that does not answer a served row: the (user, item) pair
   must be in that run's published list, at the rank and from the model version served, and
   the event not earlier than the list (its run date, midnight UTC);
3. duplicates by ``event_id``, within the batch (the first delivery wins) or already in the
   lake, are dropped and quarantined with a pointer to the copy that was kept;
4. the kept events pass the Great Expectations suite of the ``stg_clicks`` contract, or
   nothing is written at all;
5. each event lands in the partition of its own UTC date (late events in the day before),
   as a new part named by a hash of its content, so a rerun writes nothing new.

A file whose exact bytes were ingested before is skipped (a manifest of sha256 sums), and its
events could not be counted twice anyway (step 3). ``reports/D/clicks.json`` says what was
read, kept and quarantined, per file and per reason.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from crossrec.clicks.parse import FIELDS, SUFFIXES, ParsedFile, parse_file
from crossrec.config import Settings
from crossrec.errors import InputDataError, ValidationFailed
from crossrec.features.contracts import load_contract
from crossrec.layout import Layout
from crossrec.schemas import CLICKS, QUARANTINE
from crossrec.storage import partition_dir, write_parquet_atomic, write_text_atomic

EVENTS = {"event_id": pl.String, "event_ts": pl.Datetime("us", "UTC"), "user_id": pl.String,
          "item_id": pl.String, "event_type": pl.String, "rec_run_date": pl.Date,
          "rank": pl.Int16, "model_version": pl.String, "line": pl.Int64, "file": pl.String,
          "file_order": pl.Int64}
"""Parsed events in memory: the CLICKS columns plus where each came from."""


@dataclass(frozen=True)
class ClickPaths:
    drop: Path
    lake: Path
    quarantine: Path
    manifest: Path
    pending: Path
    """Intent log: the new files of an ingestion in progress (see :func:`roll_back_pending`)."""
    report: Path


def click_paths(settings: Settings, event_date: date) -> ClickPaths:
    layout = Layout(settings.data_dir)
    drop_root = settings.clicks.drop_dir or layout.click_drop
    return ClickPaths(
        drop=partition_dir(drop_root, "event_date", event_date),
        lake=layout.clicks_root,
        quarantine=layout.click_quarantine(event_date),
        manifest=layout.click_manifest,
        pending=layout.click_pending,
        report=layout.clicks_report(event_date),
    )


def drop_files(paths: ClickPaths) -> tuple[list[Path], list[dict]]:
    """The click logs of the drop folder (names the parser reads), and every other entry
    there with why it is not read: nothing in the folder is passed over without a word."""
    if not paths.drop.is_dir():
        return [], []
    files, skipped = [], []
    for p in sorted(paths.drop.iterdir()):
        if not p.is_file():
            skipped.append({"file": p.name, "reason": "not a regular file"})
        elif not p.name.lower().endswith(SUFFIXES):
            skipped.append({"file": p.name, "reason": "not a click log name (expected "
                            f"{', '.join(SUFFIXES)})"})
        else:
            files.append(p)
    return files, skipped


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _events_frame(parsed: list[ParsedFile]) -> pl.DataFrame:
    frames = []
    for order, p in enumerate(parsed):
        if p.kept:
            frames.append(pl.DataFrame({**p.columns, "file": [p.path.name] * p.kept,
                                        "file_order": [order] * p.kept}))
    if not frames:
        return pl.DataFrame(schema=EVENTS)
    return pl.concat(frames, how="vertical_relaxed").cast(EVENTS).select(list(EVENTS))


def _quarantine_rows(frame: pl.DataFrame, reason: str, detail: pl.Expr, column: str | None
                     ) -> pl.DataFrame:
    return frame.select(
        pl.col("file"), pl.col("line").cast(pl.Int64),
        pl.lit(column, dtype=pl.String).alias("column"), pl.lit(reason).alias("reason"),
        detail.cast(pl.String).alias("detail"),
        pl.concat_str([pl.col(c).cast(pl.String) for c in FIELDS], separator=" | ").alias("raw"))


def _served(settings: Settings, run_dates: list[date]) -> pl.DataFrame:
    """The rows published for each rec_run_date that has a partition: (rec_run_date,
    user_id, item_id, rank, model_version)."""
    out = []
    for day in run_dates:
        folder = Layout(settings.data_dir).recommendations(day, settings.domains.target)
        if folder.is_dir():
            out.append(read_parts(folder, ["user_id", "item_id", "rank", "model_version"])
                       .with_columns(pl.lit(day, dtype=pl.Date).alias("rec_run_date")))
    if not out:
        return pl.DataFrame(schema={"user_id": pl.String, "item_id": pl.String,
                                    "rank": pl.Int16, "model_version": pl.String,
                                    "rec_run_date": pl.Date})
    return pl.concat(out)


def read_parts(folder: Path, columns: list[str] | None = None) -> pl.DataFrame:
    """Every ``*.parquet`` directly in ``folder``, listed literally: a data folder whose path
    holds glob characters (``[1]``, ``*``) is a name, never a pattern."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".parquet"
                   and not p.name.startswith("."))
    if not files:
        raise InputDataError(f"{folder}: no Parquet parts")
    return pl.from_arrow(pa.concat_tables(
        [pq.read_table(f, columns=columns) for f in files], promote_options="default"))


def _existing_ids(lake: Path) -> pl.DataFrame:
    files = sorted(lake.glob("event_date=*/*.parquet"))
    if not files:
        return pl.DataFrame(schema={"event_id": pl.String, "kept_in": pl.String})
    return pl.concat([pl.from_arrow(pq.read_table(f, columns=["event_id"])).with_columns(
        pl.lit(f"{f.parent.name}/{f.name}").alias("kept_in")) for f in files])


def screen(events: pl.DataFrame, settings: Settings, now: datetime, lake: Path
           ) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Kept events (first delivery of each new event_id, served, not in the future) and the
    quarantine frames for the rest."""
    bad: list[pl.DataFrame] = []
    limit = now.astimezone(UTC).replace(tzinfo=None) + _tolerance(settings)
    future = pl.col("event_ts").dt.replace_time_zone(None) > limit
    bad.append(_quarantine_rows(events.filter(future), "future timestamp",
                                pl.col("event_ts").cast(pl.String), "event_ts"))
    events = events.filter(~future)

    served = _served(settings, sorted(set(events["rec_run_date"].to_list())))
    published = pl.col("rec_run_date").is_in(served["rec_run_date"].unique().implode())
    bad.append(_quarantine_rows(events.filter(~published), "no published run",
                                pl.format("no recommendations published for {}",
                                          pl.col("rec_run_date")), "rec_run_date"))
    events = _match_served(events.filter(published), served, bad)
    return _deduplicate(events, bad, lake)


def _flag(frame: pl.DataFrame, keys: list[str], name: str) -> pl.DataFrame:
    return frame.select(keys).unique().with_columns(pl.lit(True).alias(name))


def _match_served(events: pl.DataFrame, served: pl.DataFrame, bad: list[pl.DataFrame]
                  ) -> pl.DataFrame:
    """Keep an event only if it answers a row that was served: the same (user, item) pair in
    the list of its ``rec_run_date``, at the rank and from the model version that list had,
    and not before that list existed (its run date, midnight UTC). Each failing event is
    quarantined with the first reason that applies."""
    day, user, item = "rec_run_date", "user_id", "item_id"
    pair = served.group_by(day, user, item).agg(pl.col("rank").min().alias("served_rank"),
                                                pl.col("model_version").first()
                                                .alias("served_model"))
    events = (events
              .join(_flag(served, [day, user], "_user"), on=[day, user], how="left")
              .join(_flag(served, [day, item], "_item"), on=[day, item], how="left")
              .join(pair, on=[day, user, item], how="left")
              .join(_flag(served, [day, user, item, "rank"], "_rank"),
                    on=[day, user, item, "rank"], how="left")
              .join(_flag(served, [day, user, item, "rank", "model_version"], "_model"),
                    on=[day, user, item, "rank", "model_version"], how="left")
              .with_columns(pl.col("_user", "_item", "_rank", "_model").fill_null(False)))
    list_start = pl.col(day).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    checks = [
        (pl.col("event_ts") < list_start, "before its list", "event_ts",
         pl.format("{} is before the list of {} existed", pl.col("event_ts"), pl.col(day))),
        (~pl.col("_user"), "unknown user", user,
         pl.format("{} got no list on {}", pl.col(user), pl.col(day))),
        (~pl.col("_item"), "unknown item", item,
         pl.format("{} was served to nobody on {}", pl.col(item), pl.col(day))),
        (pl.col("served_rank").is_null(), "unserved pair", item,
         pl.format("{} was not in the list of {} on {}", pl.col(item), pl.col(user),
                   pl.col(day))),
        (~pl.col("_rank"), "wrong rank", "rank",
         pl.format("rank {} but {} was served at rank {}", pl.col("rank"), pl.col(item),
                   pl.col("served_rank"))),
        (~pl.col("_model"), "wrong model version", "model_version",
         pl.format("{} but the list of {} came from {}", pl.col("model_version"), pl.col(day),
                   pl.col("served_model"))),
    ]
    for failed, reason, column, detail in checks:
        bad.append(_quarantine_rows(events.filter(failed), reason, detail, column))
        events = events.filter(~failed)
    return events.drop("_user", "_item", "served_rank", "served_model", "_rank", "_model")


def _deduplicate(events: pl.DataFrame, bad: list[pl.DataFrame], lake: Path
                 ) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """The first delivery of each event_id not already in the lake."""
    events = events.sort("file_order", "line")
    first = events.group_by("event_id", maintain_order=True).agg(
        pl.col("file").first().alias("first_file"), pl.col("line").first().alias("first_line"))
    events = events.join(first, on="event_id", how="left")
    repeat = (pl.col("file") != pl.col("first_file")) | (pl.col("line") != pl.col("first_line"))
    bad.append(_quarantine_rows(events.filter(repeat), "duplicate event_id",
                                pl.format("same event as {} line {}", pl.col("first_file"),
                                          pl.col("first_line")), "event_id"))
    events = events.filter(~repeat).drop("first_file", "first_line")

    existing = _existing_ids(lake)
    events = events.join(existing, on="event_id", how="left")
    old = pl.col("kept_in").is_not_null()
    bad.append(_quarantine_rows(events.filter(old), "duplicate event_id",
                                pl.format("already ingested in {}", pl.col("kept_in")),
                                "event_id"))
    return events.filter(~old).drop("kept_in"), bad


def _tolerance(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.clicks.future_tolerance_s)


def validate_events(settings: Settings, events: pl.DataFrame) -> None:
    """The ``stg_clicks`` contract's suite on the kept events (GX runs on pandas)."""
    from crossrec.validate.gate import describe, ephemeral_context, run_suite
    from crossrec.validate.suites import build_suite

    sql_dir = settings.sql_dir or Path(__file__).resolve().parents[2] / "sql"
    contract = load_contract(sql_dir / "staging" / "stg_clicks.sql")
    context = ephemeral_context()
    suite = build_suite(contract.model_copy(update={"min_rows": None}), {})
    result = run_suite(context, suite, events.to_pandas())
    if not result.success:
        raise ValidationFailed(f"click events failed {contract.model}'s contract: "
                               f"{describe([result])}")


def _part_name(table: pa.Table) -> str:
    """A name from the content: the same events always give the same part."""
    ids = table["event_id"].to_pylist()
    return "part-" + hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:16] + ".parquet"


def partition_parts(events: pl.DataFrame, lake: Path) -> list[tuple[pa.Table, Path]]:
    """Each event date's events as one new part, and where it goes."""
    out = []
    events = events.with_columns(pl.col("event_ts").dt.date().alias("event_date"))
    for (day,), part in events.sort("event_date", "event_ts", "event_id").group_by(
            "event_date", maintain_order=True):
        table = part.select(FIELDS).to_arrow().cast(CLICKS)
        out.append((table, partition_dir(lake, "event_date", day) / _part_name(table)))
    return out


def roll_back_pending(paths: ClickPaths) -> list[Path]:
    """Finish what an ingestion killed mid-way left: if its manifest update never happened,
    remove the files it listed in its intent file, so its inputs are ingested again from a
    clean lake (the same result as if the crash never happened); if the manifest already
    holds its inputs, it had committed and only the intent file goes. Returns what was
    removed.

    The intent file is data, not trusted: every path in it is resolved (``..``, absolute
    paths and symlinks included) and must be a Parquet file under the click lake or the click
    quarantine, or nothing at all is deleted and :class:`InputDataError` says which entry."""
    if not paths.pending.is_file():
        return []
    intent = _read_state(paths.pending)
    if not (isinstance(intent, dict) and all(
            isinstance(intent.get(k), list) and all(isinstance(v, str) for v in intent[k])
            for k in ("inputs", "outputs"))):
        raise InputDataError(f"{paths.pending}: not an ingestion intent (expected lists of "
                             "text 'inputs' and 'outputs'); nothing deleted")
    root = paths.pending.parent.parent  # paths are stored relative to the data folder
    homes = [paths.lake.resolve(), paths.quarantine.parent.resolve()]
    targets = []
    for name in intent["outputs"]:
        f = (root / name).resolve()
        if f.suffix != ".parquet" or not any(f.is_relative_to(h) for h in homes):
            raise InputDataError(
                f"{paths.pending}: output {name!r} resolves to {f}, not a Parquet part under "
                f"{homes[0]} or {homes[1]}; refusing to delete anything (check that file)")
        targets.append(f)
    removed = []
    if not set(intent["inputs"]) <= set(_read_manifest(paths.manifest)):
        for f in targets:
            if f.is_file():
                f.unlink()
                removed.append(f)
    paths.pending.unlink()
    return removed


def _read_state(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputDataError(f"{path}: unreadable state file ({exc})") from None


def _read_manifest(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    manifest = _read_state(path)
    if not isinstance(manifest, dict) or not all(isinstance(v, dict)
                                                 for v in manifest.values()):
        raise InputDataError(f"{path}: not a manifest of ingested files (sha256 -> entry)")
    return manifest


def ingest_day(settings: Settings, event_date: date, extra_files: list[Path] | None = None,
               now: datetime | None = None) -> dict:
    """Ingest ``event_date``'s drop folder (and ``extra_files``, e.g. downloads); returns the
    summary also written to ``reports/<event_date>/clicks.json``."""
    now = now or datetime.now(UTC)
    paths = click_paths(settings, event_date)
    roll_back_pending(paths)
    manifest = _read_manifest(paths.manifest)
    files, skipped = drop_files(paths)
    files, parsed, sums = files + list(extra_files or []), [], {}
    for f in files:
        digest = sha256(f)
        if digest in manifest or digest in sums.values():
            skipped.append({"file": f.name, "reason": "already ingested",
                            "first": manifest.get(digest, {}).get("file", f.name)})
            continue
        sums[f.name] = digest
        try:
            parsed.append(parse_file(f))
        except InputDataError:  # e.g. a gzip bomb: it names the file and why
            raise
        except Exception as exc:  # an unreadable Parquet file: nothing of it is used
            raise InputDataError(f"{f}: cannot read click log: {exc}") from exc
    events = _events_frame(parsed)
    kept, bad = screen(events, settings, now, paths.lake)
    parse_bad = [pl.DataFrame({"file": [p.path.name] * len(p.bad),
                               "line": [b.line for b in p.bad],
                               "column": [b.column for b in p.bad],
                               "reason": [b.reason for b in p.bad],
                               "detail": [b.detail for b in p.bad],
                               "raw": [b.raw for b in p.bad]},
                              schema=dict(zip(QUARANTINE.names, [pl.String, pl.Int64, pl.String,
                                                                 pl.String, pl.String,
                                                                 pl.String], strict=True)))
                 for p in parsed if p.bad]
    quarantine = pl.concat([*parse_bad, *bad], how="vertical_relaxed") if (
        parse_bad or bad) else pl.DataFrame(schema={k: pl.String for k in QUARANTINE.names})
    if kept.height:
        validate_events(settings, kept.with_columns(
            pl.col("event_ts").dt.date().alias("event_date")))
    parts = partition_parts(kept, paths.lake) if kept.height else []
    written = {f.parent.name.removeprefix("event_date="): t.num_rows for t, f in parts}
    if quarantine.height:
        q = quarantine.sort("file", "line").to_arrow().cast(QUARANTINE)
        parts.append((q, paths.quarantine / _quarantine_name(q)))
    # intent first: a crash after some of these files but before the manifest update is
    # rolled back by the next run (only files this run creates are listed)
    if parts:
        root = paths.pending.parent.parent
        write_text_atomic(json.dumps({
            "inputs": sorted(sums.values()),
            "outputs": [str(f.relative_to(root)) for _, f in parts if not f.exists()]}),
            paths.pending)
    for table, path in parts:
        write_parquet_atomic(table, path)
    for f in parsed:  # only now: a crash before this point re-reads the files next time
        manifest[sums[f.path.name]] = {"file": f.path.name, "event_date": event_date.isoformat(),
                                       "ingested_at": now.isoformat()}
    if parsed:
        write_text_atomic(json.dumps(manifest, indent=1, sort_keys=True), paths.manifest)
    paths.pending.unlink(missing_ok=True)
    summary = _summary(event_date, parsed, kept, quarantine, written, skipped)
    write_text_atomic(json.dumps(summary, indent=1), paths.report)
    return summary


def _quarantine_name(table: pa.Table) -> str:
    key = "\n".join(f"{f}:{n}:{r}" for f, n, r in zip(
        table["file"].to_pylist(), table["line"].to_pylist(), table["reason"].to_pylist(),
        strict=True))
    return "part-" + hashlib.sha256(key.encode()).hexdigest()[:16] + ".parquet"


def _summary(event_date: date, parsed: list[ParsedFile], kept: pl.DataFrame,
             quarantine: pl.DataFrame, written: dict[str, int], skipped: list[dict]) -> dict:
    kept_by_file = Counter(kept["file"].to_list()) if kept.height else Counter()
    bad_by_file = Counter(quarantine["file"].to_list()) if quarantine.height else Counter()
    files = [{"file": p.path.name, "read": p.read, "kept": kept_by_file.get(p.path.name, 0),
              "quarantined": bad_by_file.get(p.path.name, 0),
              "ignored_columns": p.extra_columns} for p in parsed]
    late = {d: n for d, n in written.items() if d < event_date.isoformat()}
    by_type = (dict(Counter(kept["event_type"].to_list())) if kept.height else {})
    return {
        "event_date": event_date.isoformat(),
        "files": files,
        "skipped_files": skipped,
        "totals": {"read": int(sum(p.read for p in parsed)), "kept": kept.height,
                   "quarantined": quarantine.height,
                   "late": int(sum(late.values())), "by_event_type": by_type},
        "quarantined_by_reason": dict(Counter(quarantine["reason"].to_list()))
        if quarantine.height else {},
        "written": written,
        "users": int(kept["user_id"].n_unique()) if kept.height else 0,
        "mean_rank_clicked": float(np.mean(kept.filter(
            pl.col("event_type") == "click")["rank"].to_numpy())) if by_type.get("click") else None,
    }
