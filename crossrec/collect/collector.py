"""Collect every configured source into one ingest date's landing partition.

Each source is read as a stream of batches by its format's reader, staged, de-duplicated and
counted. The partition is swapped into place only when every file is within its bad-row
budget (``max_bad_ratio``) and no file failed whole; otherwise the previous partition and its
quarantine stay, this run's quarantine is kept for inspection under
``quarantine/.failed/ingest_date=D/``, and the error names each failing file and why. A
summary (rows read, landed, quarantined by reason, filtered, per domain) is written to
``reports/<date>/collect.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from crossrec.collect import amazon, disencdr, generic
from crossrec.collect.download import DownloadError, fetch
from crossrec.collect.landing import Landed, LandingBatch
from crossrec.collect.rows import FileTally, Limits, QuarantineLog, RowLog
from crossrec.collect.sources import (
    AmazonSource,
    CsvSource,
    DisenCDRSource,
    JsonlSource,
    ParquetSource,
    SourceConfig,
    SyntheticSource,
    is_url,
)
from crossrec.collect.synthetic import SyntheticWorld
from crossrec.config import Settings
from crossrec.errors import InputDataError
from crossrec.layout import Layout
from crossrec.schemas import ITEMS_STAGED, item_keys
from crossrec.storage import write_text_atomic


def source_name(index: int, src: SourceConfig) -> str:
    return f"{src.kind}-{index}"


def cache_dir(settings: Settings) -> Path:
    return settings.collect.cache_dir or Layout(settings.data_dir).downloads


def remote_inputs(settings: Settings) -> list[tuple[str, str | None]]:
    """Every ``(url, sha256)`` the sources need downloaded (DisenCDR pair files included)."""
    out: list[tuple[str, str | None]] = []
    src_d, tgt_d = settings.domains.source, settings.domains.target
    for src in settings.sources:
        match src:
            case DisenCDRSource() if is_url(src.path):
                out += [(u, None) for u in _pair_urls(src.path, src_d, tgt_d, "train.txt")]
            case AmazonSource():
                out += [(p, s) for p, s in ((src.path, src.sha256),
                                            (src.meta_path, src.meta_sha256)) if p and is_url(p)]
            case CsvSource() | JsonlSource() | ParquetSource() if is_url(src.path):
                out.append((src.path, src.sha256))
    return out


def check_sources(settings: Settings) -> None:
    """Fail before anything is written when a local input is missing."""
    for i, src in enumerate(settings.sources):
        paths = [getattr(src, "path", None), getattr(src, "meta_path", None)]
        for p in paths:
            if p is None or is_url(p):
                continue
            path = Path(p)
            want_dir = isinstance(src, DisenCDRSource)
            if not (path.is_dir() if want_dir else path.is_file()):
                what = "data folder" if want_dir else "input file"
                raise InputDataError(f"{what} not found: {path} (sources[{i}] {src.kind})")


def _pair_urls(base: str, source: str, target: str, file: str) -> list[str]:
    base = base.rstrip("/")
    return [f"{base}/{a}_{b}/{file}" for a, b in ((source, target), (target, source))]


Resolve = Callable[[str, str | None], Path]


def _resolver(settings: Settings, fetched: dict[str, Path]) -> Resolve:
    """Path or URL -> local file: a URL the flow's download tasks already fetched is used as
    is (no second request); any other URL is fetched here."""
    def local(path: str, sha256: str | None) -> Path:
        if not is_url(path):
            return Path(path)
        if path in fetched:
            return fetched[path]
        return fetch(path, cache_dir(settings), sha256, settings.collect.download_timeout_s)
    return local


def _disencdr_files(settings: Settings, src: DisenCDRSource,
                    local: Resolve) -> dict[str, list[Path]]:
    source, target = settings.domains.source, settings.domains.target
    if not is_url(src.path):
        return disencdr.pair_files(Path(src.path), source, target)
    files: dict[str, list[Path]] = {}
    for domain, other in ((source, target), (target, source)):
        base = f"{src.path.rstrip('/')}/{domain}_{other}"
        files[domain] = [local(f"{base}/train.txt", None)]
        try:
            files[domain].append(local(f"{base}/test_original.txt", None))
        except DownloadError as exc:
            if not exc.permanent:
                raise  # test_original.txt is optional; a flaky server is not "absent"
    return files


def _with_origin(table: pa.Table, file: str) -> Iterator[pa.RecordBatch]:
    """Item rows of a generator, with the ``file``/``line`` columns staging expects."""
    n = table.num_rows
    table = table.append_column("file", pa.array([file] * n, pa.string()))
    table = table.append_column("line", pa.array(range(1, n + 1), pa.int64()))
    yield from table.cast(ITEMS_STAGED).to_batches()


def _keyed(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The synthetic world's item ids (``cloth:12``) are its users' own ids, so they get the
    domain key like any other reader's: published lists give them back as they are."""
    for batch in batches:
        i = batch.schema.get_field_index("item_id")
        yield batch.set_column(i, batch.schema.field(i),  # keeps the field's not-null
                               item_keys(batch["domain"], batch["item_id"]))


class InScope:
    """Keeps rows of the two configured domains; every other row is counted per file as
    *filtered: other domain* (a multi-category export is not an error). Remembers how many
    rows of each domain every file had, for the summary and the zero-rows error."""

    REASON = "other domain"

    def __init__(self, domains: tuple[str, str], log: RowLog):
        self.keep = pa.array(domains, pa.string())
        self.log = log
        self.seen: dict[str, Counter] = {}

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            counts = pc.value_counts(pc.binary_join_element_wise(
                batch["file"], batch["domain"], "\x00"))
            for pair in counts.to_pylist():
                file, domain = pair["values"].split("\x00", 1)
                self.seen.setdefault(file, Counter())[domain] += pair["counts"]
            mask = pc.is_in(batch["domain"], value_set=self.keep)
            if pc.all(mask).as_py() is not False:
                yield batch
                continue
            out = batch.filter(pc.invert(mask))
            for pair in pc.value_counts(out["file"]).to_pylist():
                tally = self.log.tally(pair["values"])
                tally.yielded -= pair["counts"]  # counted as read by the reader's Batcher
                tally.filtered[self.REASON] += pair["counts"]
            yield batch.filter(mask)


def _counted(batches: Iterator[pa.RecordBatch], log: RowLog, file: str) -> Iterator[pa.RecordBatch]:
    """Tally rows of readers that build their batches without a ``Batcher``."""
    tally = log.tally(file)
    for batch in batches:
        tally.yielded += batch.num_rows
        yield batch


def _read(settings: Settings, src: SourceConfig, ingest_date: date, log: RowLog,
          batch: LandingBatch, name: str, quarantine: QuarantineLog,
          local: Resolve) -> tuple[Landed, Landed]:
    rows = settings.collect.rows_per_batch
    limits = Limits.of(settings.collect)
    scope = InScope((settings.domains.source, settings.domains.target), log)
    try:
        return _read_source(settings, src, ingest_date, log, batch, name, quarantine, local,
                            rows, limits, scope)
    finally:
        for file, domains in scope.seen.items():
            log.tally(file).domains.update(domains)


def _read_source(settings: Settings, src: SourceConfig, ingest_date: date, log: RowLog,
                 batch: LandingBatch, name: str, quarantine: QuarantineLog, local: Resolve,
                 rows: int, limits: Limits, scope: InScope) -> tuple[Landed, Landed]:
    items = Landed()
    match src:
        case SyntheticSource():
            world = SyntheticWorld(src, settings.domains.source, settings.domains.target)
            file = f"synthetic:seed={src.seed}"
            inter = batch.write(name, "interactions", scope(_counted(
                _keyed(world.interactions(ingest_date, rows)), log, file)), quarantine)
            items = batch.write(name, "items", _keyed(_with_origin(world.items(), file)),
                                quarantine)
        case DisenCDRSource():
            files = _disencdr_files(settings, src, local)
            inter = batch.write(name, "interactions",
                                scope(disencdr.read_pair(files, ingest_date, log, rows)),
                                quarantine)
        case CsvSource() | JsonlSource() | ParquetSource():
            inter = batch.write(name, "interactions", scope(generic.read(
                src, local(src.path, src.sha256), ingest_date, log, rows, limits)), quarantine)
        case AmazonSource():
            path = local(src.path, src.sha256)
            domain = src.domain or amazon.domain_from_filename(src.path)
            inter = batch.write(name, "interactions", scope(amazon.read_reviews(
                src, path, domain, ingest_date, log, rows, limits)), quarantine)
            if src.meta_path:
                meta = local(src.meta_path, src.meta_sha256)
                items = batch.write(name, "items", scope(amazon.read_metadata(
                    meta, domain, log, rows, limits)), quarantine)
        case _:  # pragma: no cover - the config union is closed
            raise TypeError(f"unsupported source {src!r}")
    return inter, items


def _file_summary(t: FileTally, duplicates: int, reason: str) -> dict:
    quarantined = Counter(t.quarantined)
    if duplicates:
        quarantined[reason] += duplicates
    read = t.read
    bad = sum(quarantined.values())
    return {"read": read, "landed": t.yielded - duplicates, "quarantined": dict(quarantined),
            "filtered": dict(t.filtered), "bad_ratio": round(bad / read, 6) if read else 0.0,
            "example": t.example, "warnings": t.warnings, "domains": dict(t.domains)}


def _over_budget(file: str, info: dict, limit: float) -> str | None:
    if info["bad_ratio"] <= limit:
        return None
    bad = sum(info["quarantined"].values())
    reasons = ", ".join(f"{r} ({n})" for r, n in Counter(info["quarantined"]).most_common(3))
    example = info["example"]
    where = f"; first at line {example['line']}" if example else ""
    if example and example.get("column"):
        where += f", column {example['column']!r}"
    if example and example.get("detail"):
        where += f": {example['detail']}"
    return (f"{file}: {bad} of {info['read']} rows quarantined ({info['bad_ratio']:.1%}), over "
            f"max_bad_ratio {limit:.1%}; reasons: {reasons}{where}")


def collect(settings: Settings, ingest_date: date,
            fetched: dict[str, Path] | None = None) -> dict:
    """Land every source for ``ingest_date`` (replacing that date's partition); returns the
    summary. ``fetched`` maps URLs already downloaded to their files. Raises
    ``InputDataError`` naming each failing file, after writing the summary."""
    local = _resolver(settings, fetched or {})
    batch = LandingBatch(settings.data_dir, ingest_date, settings.collect.memory_limit)
    sources: dict[str, dict] = {}
    failures: list[str] = []
    try:
        for i, src in enumerate(settings.sources):
            name = source_name(i, src)
            quarantine = QuarantineLog(batch.quarantine_dir / f"{name}.parquet")
            log = RowLog(quarantine)
            inter = items = Landed()
            try:
                inter, items = _read(settings, src, ingest_date, log, batch, name, quarantine,
                                     local)
            except InputDataError as exc:
                failures.append(f"{name}: {exc}")
            finally:
                quarantine.close()
            limit = src.max_bad_ratio if getattr(src, "max_bad_ratio", None) is not None \
                else settings.collect.max_bad_ratio
            files = {}
            for file, tally in log.files.items():
                dup_i, dup_m = inter.duplicates_by_file[file], items.duplicates_by_file[file]
                reason = "duplicate item" if dup_m else "duplicate row"
                files[file] = _file_summary(tally, dup_i + dup_m, reason)
                if (problem := _over_budget(file, files[file], limit)) is not None:
                    failures.append(f"{name}: {problem}")
            sources[name] = {"kind": src.kind, "landed": inter.rows,
                             "landed_by_domain": dict(inter.by_domain), "items": items.rows,
                             "max_bad_ratio": limit, "files": files}
        summary = _summarise(ingest_date, sources, failures)
        if failures:
            kept = batch.abort(keep_quarantine=True)
            summary["failed_quarantine"] = str(kept) if kept else None
        else:
            summary["partition"] = str(batch.commit())
    except BaseException:
        batch.abort(keep_quarantine=False)
        raise
    write_text_atomic(json.dumps(summary, indent=2) + "\n", summary_path(settings, ingest_date))
    if failures:
        where = (f" (this run's quarantine: {summary['failed_quarantine']})"
                 if summary.get("failed_quarantine") else "")
        raise InputDataError(f"collection for {ingest_date} failed; the previous landing "
                             f"partition and its quarantine are unchanged{where}:\n  - "
                             + "\n  - ".join(failures))
    return summary


def summary_path(settings: Settings, ingest_date: date) -> Path:
    return Layout(settings.data_dir).collect_summary(ingest_date)


def _summarise(ingest_date: date, sources: dict[str, dict], failures: list[str]) -> dict:
    totals: Counter = Counter()
    by_domain: Counter = Counter()
    for s in sources.values():
        by_domain.update(s["landed_by_domain"])
        for f in s["files"].values():
            totals["read"] += f["read"]
            totals["landed"] += f["landed"]
            totals["quarantined"] += sum(f["quarantined"].values())
            totals["filtered"] += sum(f["filtered"].values())
    return {"ingest_date": ingest_date.isoformat(), "ok": not failures, "failures": failures,
            "totals": dict(totals), "landed_by_domain": dict(by_domain), "sources": sources}
