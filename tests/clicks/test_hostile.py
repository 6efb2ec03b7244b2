"""Hostile click logs (issue 24): what a careless or hostile sender can put in the drop folder
or the data folder's state files, and what ingestion must do with it."""

import gzip
import json
import tracemalloc

import polars as pl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st

from crossrec.clicks.ingest import click_paths, ingest_day
from crossrec.clicks.parse import SUFFIXES, parse_file, parse_jsonl
from crossrec.errors import InputDataError
from tests.clicks.test_ingest import DAY, NOW, drop, event, lake_rows, publish_fake_lists
from tests.conftest import tiny_settings


@pytest.fixture
def settings(tmp_path):
    s = tiny_settings(tmp_path / "data")
    publish_fake_lists(s)
    return s


def quarantine(settings):
    return pl.read_parquet(click_paths(settings, DAY).quarantine)


def test_only_events_answering_a_served_row_become_training_events(settings):
    """Issue 24 #7: user and item were screened separately, so all of these landed."""
    drop(settings, "a.jsonl", [json.dumps(e) for e in [
        event(1, "click"),                                        # u1, cloth:1, rank 1: served
        event(2, "click", user="u2", item="cloth:1"),             # both known, never together
        event(3, "click", rank=999),                              # the served pair, rank 999
        event(4, "click") | {"model_version": "v666"},            # a model that made no list
        event(5, "click", ts="2026-11-21T23:59:59Z"),             # before the list existed
        event(6, "purchase", item="cloth:2", rank=2),             # served at rank 2: kept
    ]])
    summary = ingest_day(settings, DAY, now=NOW)
    assert summary["quarantined_by_reason"] == {
        "unserved pair": 1, "wrong rank": 1, "wrong model version": 1, "before its list": 1}
    totals = summary["totals"]
    assert (totals["read"], totals["kept"], totals["quarantined"]) == (6, 2, 4)
    assert sorted(lake_rows(settings)["event_id"]) == ["e1", "e6"]
    q = {r["reason"]: r for r in quarantine(settings).iter_rows(named=True)}
    assert (q["unserved pair"]["line"], q["unserved pair"]["column"]) == (2, "item_id")
    assert q["unserved pair"]["detail"] == "cloth:1 was not in the list of u2 on 2026-11-22"
    assert q["wrong rank"]["detail"] == "rank 999 but cloth:1 was served at rank 1"
    assert (q["wrong rank"]["line"], q["wrong rank"]["column"]) == (3, "rank")
    assert q["wrong model version"]["column"] == "model_version"
    assert "v666 but the list of 2026-11-22 came from v1" == q["wrong model version"]["detail"]
    assert (q["before its list"]["line"], q["before its list"]["column"]) == (5, "event_ts")


# --- #8: encodings and file names -----------------------------------------------------------

BAD_UTF8 = st.sampled_from([b"\xff", b"\x80", b"\xc3(", b"\xe2\x82", b"\xc0\xaf",
                            b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])


@settings_(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad=BAD_UTF8, at=st.integers(0, 10**6), where=st.sampled_from(["id", "anywhere"]))
def test_invalid_utf8_is_quarantined_as_bad_encoding_never_replaced(tmp_path_factory, bad, at,
                                                                     where):
    """Issue 24 #8: bytes that are not UTF-8 were decoded with U+FFFD and could land."""
    line = json.dumps(event(1)).encode()
    if where == "id":  # inside a value: replaced, it would have been a valid event
        at = line.index(b'"e1"') + 2
    else:
        at %= len(line)
    path = tmp_path_factory.mktemp("enc") / "a.jsonl"
    path.write_bytes(json.dumps(event(0)).encode() + b"\n" + line[:at] + bad + line[at:]
                     + b"\n")
    parsed = parse_file(path)
    assert parsed.kept == 1 and parsed.read == 2
    assert [(b.line, b.reason) for b in parsed.bad] == [(2, "bad encoding")]
    assert "not valid UTF-8" in parsed.bad[0].detail


SUFFIX = st.sampled_from([".json", ".ndjson.gz", ".jsonl.txt", ".jsonl", ".JSONL.GZ", ".json.gz",
                          ".ndjson", ".csv", ".txt", "", ".jsonl.tmp", ".gz", ".parquet.part"])


@settings_(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(st.tuples(st.sampled_from(["log", ".hidden", "b-1", "x y"]), SUFFIX),
                      min_size=1, max_size=6, unique=True),
       folder=st.booleans())
def test_every_entry_of_the_drop_folder_is_read_or_listed_with_a_reason(tmp_path_factory,
                                                                        names, folder):
    """Issue 24 #8: `.json`, `.ndjson.gz`, `.jsonl.txt` files were passed over silently (and
    `.json` / `.ndjson.gz` are read by the parser)."""
    s = tiny_settings(tmp_path_factory.mktemp("names") / "data")
    drop_dir = click_paths(s, DAY).drop
    drop_dir.mkdir(parents=True)
    for i, (stem, suffix) in enumerate(names):
        data = b'{"not": "an event", "n": %d}\n' % i  # quarantined: no lake write, no suite
        (drop_dir / (stem + suffix)).write_bytes(gzip.compress(data) if ".gz" in suffix.lower()
                                                 else data)
    if folder:
        (drop_dir / "nested.jsonl").mkdir()
    summary = ingest_day(s, DAY, now=NOW)
    entries = {p.name for p in drop_dir.iterdir()}
    read = {f["file"] for f in summary["files"]}
    skipped = {f["file"]: f["reason"] for f in summary["skipped_files"]}
    assert read | set(skipped) == entries and not read & set(skipped)
    assert read == {n for n in entries if (drop_dir / n).is_file()
                    and n.lower().endswith(SUFFIXES)}
    assert all(reason for reason in skipped.values())
    if folder:
        assert skipped["nested.jsonl"] == "not a regular file"
    assert summary["totals"]["quarantined"] == len(read)  # each file's one line, counted


# --- #2: unbounded lines and gzip bombs -------------------------------------------------------

@settings_(max_examples=80, deadline=None)
@given(limit=st.integers(8, 300), lengths=st.lists(st.integers(0, 900), min_size=1, max_size=8),
       gz=st.booleans(), final_newline=st.booleans())
def test_lines_over_the_limit_are_quarantined_and_the_rest_read(tmp_path_factory, limit,
                                                                lengths, gz, final_newline):
    """Issue 24 #2: a line was read whole, however long; now each one over the limit is one
    quarantined ``line too long`` entry (its number, its first bytes), the others go on."""
    lines = [b"x" * n for n in lengths]  # 'x...' is not JSON: every kept-length line is bad
    data = b"\n".join(lines) + (b"\n" if final_newline else b"")
    path = tmp_path_factory.mktemp("long") / "a.jsonl"
    path.write_bytes(gzip.compress(data) if gz else data)
    parsed = parse_jsonl(path, max_line=limit)
    want = [(i, "line too long" if n > limit else "invalid json")
            for i, n in enumerate(lengths, start=1) if n]  # empty lines are blank: skipped
    assert [(b.line, b.reason) for b in parsed.bad] == want
    assert parsed.read == len(want) and parsed.kept == 0
    for b in parsed.bad:
        assert len(b.raw) <= 500


def test_a_huge_line_is_skipped_in_bounded_memory(tmp_path):
    good = json.dumps(event(1)).encode()
    path = tmp_path / "a.jsonl"
    with path.open("wb") as fh:
        fh.write(good + b"\n" + b'{"event_id": "')
        for _ in range(64):  # one 64 MiB line
            fh.write(b"a" * (1 << 20))
        fh.write(b'"}\n' + good.replace(b'"e1"', b'"e2"') + b"\n")
    tracemalloc.start()
    try:
        parsed = parse_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak  # the line is 64 MiB; the reader holds at most ~1 MiB of it
    assert [(b.line, b.reason) for b in parsed.bad] == [(2, "line too long")]
    assert parsed.columns["event_id"] == ["e1", "e2"] and parsed.columns["line"] == [1, 3]


def _bomb(path, size):
    """A gzip of ``size`` bytes of one line without a newline, written in pieces."""
    with gzip.open(path, "wb") as fh:
        for _ in range(size >> 20):
            fh.write(b"a" * (1 << 20))


def test_a_gzip_bomb_is_refused_with_the_file_named_and_the_lake_kept(settings, tmp_path):
    """Issue 24 #2: a small gzip expanding without bound; refused before anything is written,
    so the previous good ingestion stays exactly as it was."""
    drop(settings, "good.jsonl", [json.dumps(event(1))])
    ingest_day(settings, DAY, now=NOW)
    data = settings.data_dir
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    bomb = click_paths(settings, DAY).drop / "bomb.jsonl.gz"
    _bomb(bomb, 96 << 20)  # 96 MiB of 'a' in about 100 kB: over 200 times its size
    with pytest.raises(InputDataError, match=r"bomb\.jsonl\.gz: expands more than 200 times"):
        ingest_day(settings, DAY, now=NOW)
    after = {p: p.read_bytes() for p in data.rglob("*") if p.is_file() and p != bomb}
    assert after == before


def test_the_decompressed_size_is_capped_with_a_clear_error(tmp_path):
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(json.dumps(event(i)).encode() + b"\n"
                                            for i in range(200))))
    assert parse_jsonl(path).kept == 200
    with pytest.raises(InputDataError, match=r"big\.jsonl\.gz: decompresses to more than 10,000"):
        parse_jsonl(path, max_bytes=10_000)


# --- #10: paths read from state files ---------------------------------------------------------

ESCAPES = st.sampled_from(["relative", "dotdot", "absolute", "symlink", "other folder",
                           "not parquet"])


@settings_(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(escape=ESCAPES, legit_first=st.booleans())
def test_a_crafted_intent_file_deletes_nothing_outside_its_folders(tmp_path_factory, escape,
                                                                   legit_first):
    """Issue 24 #10: `lake/.clicks-pending.json` named a file outside the data folder and the
    next ingestion deleted it. Now every path is resolved and must be a Parquet part under the
    click lake or quarantine, or the run stops before deleting anything."""
    base = tmp_path_factory.mktemp("pending")
    s = tiny_settings(base / "data")
    paths = click_paths(s, DAY)
    victim = base / "victim.parquet"
    victim.write_bytes(b"precious")
    inside = paths.lake / "event_date=2026-11-23" / "part-0.parquet"  # a part it may remove
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"part")
    (s.data_dir / "models").mkdir()
    (s.data_dir / "models" / "keep.parquet").write_bytes(b"model")
    link = paths.lake / "event_date=2026-11-23" / "part-1.parquet"
    link.symlink_to(victim)
    (paths.lake / "event_date=2026-11-23" / "notes.txt").write_bytes(b"notes")
    bad = {"relative": "../victim.parquet", "dotdot": "lake/clicks/../../../victim.parquet",
           "absolute": str(victim), "symlink": str(link.relative_to(s.data_dir)),
           "other folder": "models/keep.parquet",
           "not parquet": "lake/clicks/event_date=2026-11-23/notes.txt"}[escape]
    legit = str(inside.relative_to(s.data_dir))
    outputs = [legit, bad] if legit_first else [bad, legit]
    paths.pending.write_text(json.dumps({"inputs": ["never-committed"], "outputs": outputs}))
    before = {p: p.read_bytes() for p in base.rglob("*") if p.is_file()}
    with pytest.raises(InputDataError, match=r"\.clicks-pending\.json: output .* refusing to "
                                             r"delete anything"):
        ingest_day(s, DAY, now=NOW)
    assert {p: p.read_bytes() for p in base.rglob("*") if p.is_file()} == before


def test_an_honest_intent_still_rolls_back_an_unfinished_ingestion(settings):
    from crossrec.clicks.ingest import roll_back_pending

    paths = click_paths(settings, DAY)
    part = paths.lake / "event_date=2026-11-23" / "part-0.parquet"
    q = paths.quarantine / "part-1.parquet"
    for f in (part, q):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"half")
    paths.pending.write_text(json.dumps({"inputs": ["x"], "outputs": [
        str(part.relative_to(settings.data_dir)), str(q.relative_to(settings.data_dir))]}))
    assert roll_back_pending(paths) == [part.resolve(), q.resolve()]
    assert not part.exists() and not q.exists() and not paths.pending.exists()


@pytest.mark.parametrize("text", ["[1, 2]", '{"inputs": "x", "outputs": []}',
                                  '{"inputs": [], "outputs": [5]}', "{not json", "\udcff"])
def test_a_malformed_intent_file_is_a_clear_error(settings, text):
    paths = click_paths(settings, DAY)
    paths.pending.parent.mkdir(parents=True, exist_ok=True)
    paths.pending.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(InputDataError, match=r"\.clicks-pending\.json"):
        ingest_day(settings, DAY, now=NOW)
    assert paths.pending.is_file()


# --- #13: a data folder whose name holds glob characters ---------------------------------------

@settings_(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.lists(st.sampled_from(["[1]", "*", "?", "[!a]", "{a,b}", "**", "x"]),
                     min_size=1, max_size=3).map("".join))
def test_a_data_folder_named_with_glob_characters_is_a_name(tmp_path_factory, name):
    """Issue 24 #13: `data[1]` broke click ingestion (the served lists were read through a glob
    of the path)."""
    from crossrec.clicks.metrics import feedback_tables

    s = tiny_settings(tmp_path_factory.mktemp("glob") / f"data{name}")
    publish_fake_lists(s)
    drop(s, "a.jsonl", [json.dumps(event(1)), json.dumps(event(2, "click")),
                        json.dumps(event(3, user="u2", item="cloth:3"))])
    summary = ingest_day(s, DAY, now=NOW)
    assert (summary["totals"]["kept"], summary["totals"]["quarantined"]) == (3, 0)
    tables = feedback_tables(s, DAY)
    assert {r["rank"]: r["clicks"] for r in tables["rank"]} == {1: 1}
