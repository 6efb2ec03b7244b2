"""Amazon review/metadata reader: the three vintages, loose JSON, gzip, and every bad-line path."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossrec.collect.amazon import domain_from_filename, read_metadata, read_reviews
from crossrec.collect.rows import QuarantineLog, RowLog
from crossrec.collect.sources import AmazonSource
from crossrec.errors import InputDataError
from crossrec.schemas import ITEMS_STAGED, STAGED

INGEST = date(2026, 11, 22)
MIDNIGHT_US = int(datetime(2026, 11, 22, tzinfo=UTC).timestamp()) * 1_000_000


def us(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * 1_000_000


class Run:
    """One reader run: the rows it yielded, what it quarantined, the file's tally."""

    def __init__(self, tmp_path: Path):
        self.qpath = tmp_path / "q.parquet"
        self.log = RowLog(QuarantineLog(self.qpath))

    def reviews(self, path: Path, domain: str = "books", min_rating: float | None = None,
                rows_per_batch: int = 1000) -> list[dict]:
        cfg = AmazonSource(path=str(path), min_rating=min_rating)
        batches = list(read_reviews(cfg, path, domain, INGEST, self.log, rows_per_batch))
        assert all(b.schema == STAGED for b in batches)
        return self._rows(batches)

    def metadata(self, path: Path, domain: str = "books") -> list[dict]:
        batches = list(read_metadata(path, domain, self.log, 1000))
        assert all(b.schema == ITEMS_STAGED for b in batches)
        return self._rows(batches)

    @staticmethod
    def _rows(batches: list[pa.RecordBatch]) -> list[dict]:
        return pa.Table.from_batches(batches).to_pylist() if batches else []

    def quarantine(self) -> list[dict]:
        out = self.log.quarantine.close()
        return pq.read_table(out).to_pylist() if out else []


def write_lines(path: Path, lines: list[str | bytes], gz: bool = False) -> Path:
    data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\n" for ln in lines)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def check_counts(run: Run, path: Path, lines_read: int, yielded: int) -> None:
    """read == yielded + quarantined + filtered, and every line was accounted for."""
    tally = run.log.files[str(path)]
    assert tally.yielded == yielded
    assert tally.read == lines_read
    assert tally.read == (tally.yielded + sum(tally.quarantined.values())
                          + sum(tally.filtered.values()))


def event_us(row: dict) -> int:
    return int(row["event_ts"].timestamp()) * 1_000_000 + row["event_ts"].microsecond


# --- reviews: known answers per vintage -------------------------------------------------------


def test_2018_reviews_known_answers(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "Books_5.json", [
        json.dumps({"overall": 5.0, "verified": True, "reviewTime": "09 13, 2009",
                    "reviewerID": "A1", "asin": "B01", "reviewText": "great",
                    "unixReviewTime": 1252800000}),
        # no unixReviewTime: reviewTime (midnight UTC of that day)
        json.dumps({"overall": 3, "reviewTime": "1 2, 2015", "reviewerID": " A2 ",
                    "asin": "B02"}),
        # no time at all: the ingest date's midnight
        json.dumps({"overall": "4.0", "reviewerID": "A3", "asin": 17}),
    ])
    run = Run(tmp_path)
    rows = run.reviews(path)
    assert [(r["user_id"], r["item_id"], r["domain"], event_us(r), r["rating"], r["line"])
            for r in rows] == [
        ("A1", "books:B01", "books", 1_252_800_000_000_000, 5.0, 1),
        ("A2", "books:B02", "books", us(2015, 1, 2), 3.0, 2),
        ("A3", "books:17", "books", MIDNIGHT_US, 4.0, 3),
    ]
    assert {r["source"] for r in rows} == {"amazon"}
    assert {r["file"] for r in rows} == {str(path)}
    assert run.quarantine() == []
    check_counts(run, path, 3, 3)


def test_2023_reviews_known_answers(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "All_Beauty.jsonl", [
        json.dumps({"rating": 5.0, "title": "t", "text": "x", "images": [], "asin": "B0V1",
                    "parent_asin": "B0P1", "user_id": "AGKH", "timestamp": 1588687728923,
                    "helpful_vote": 0, "verified_purchase": True}),
        # no parent_asin: asin is the item
        json.dumps({"rating": 1.0, "asin": "B0V2", "user_id": "U2",
                    "timestamp": 1600000000000}),
        # no timestamp: the ingest date's midnight
        json.dumps({"rating": 2, "parent_asin": "B0P3", "user_id": "U3"}),
    ])
    run = Run(tmp_path)
    rows = run.reviews(path, domain="all_beauty")
    assert [(r["user_id"], r["item_id"], r["domain"], event_us(r), r["rating"])
            for r in rows] == [
        ("AGKH", "all_beauty:B0P1", "all_beauty", 1_588_687_728_923_000, 5.0),
        ("U2", "all_beauty:B0V2", "all_beauty", 1_600_000_000_000_000, 1.0),
        ("U3", "all_beauty:B0P3", "all_beauty", MIDNIGHT_US, 2.0),
    ]
    check_counts(run, path, 3, 3)


def test_2014_loose_json_gzipped(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "reviews_Sports_and_Outdoors_5.json.gz", [
        "{'reviewerID': 'A1', 'asin': 'B2', 'overall': 5.0, 'unixReviewTime': 1400000000, "
        "'helpful': [0, 0], 'reviewText': \"it's fine\", 'reviewTime': '05 13, 2014'}",
        json.dumps({"reviewerID": "A2", "asin": "B3", "overall": 4.0,
                    "unixReviewTime": 1300000000}),
        "{'reviewerID': 'A3', 'asin': 'B4', 'overall': 2.0, 'reviewTime': '12 31, 1999'}",
    ], gz=True)
    run = Run(tmp_path)
    rows = run.reviews(path, domain="sports_and_outdoors", rows_per_batch=2)
    assert [(r["user_id"], r["item_id"], event_us(r), r["rating"]) for r in rows] == [
        ("A1", "sports_and_outdoors:B2", 1_400_000_000_000_000, 5.0),
        ("A2", "sports_and_outdoors:B3", 1_300_000_000_000_000, 4.0),
        ("A3", "sports_and_outdoors:B4", us(1999, 12, 31), 2.0),
    ]
    check_counts(run, path, 3, 3)


def test_bad_lines_are_quarantined_with_reason(tmp_path: Path) -> None:
    good = {"reviewerID": "A1", "asin": "B1", "overall": 5.0, "unixReviewTime": 1400000000}
    lines: list[str | bytes] = [
        json.dumps(good),                                                    # 1 ok
        '{"reviewerID": "A2", "asin": ',                                     # 2 invalid json
        "[1, 2, 3]",                                                         # 3 not an object
        "{'a': __import__('os').system('true')}",                            # 4 never eval'd
        json.dumps({"asin": "B1", "overall": 5.0}),                          # 5 no reviewerID
        json.dumps({**good, "asin": None}),                                  # 6 asin null
        json.dumps({**good, "reviewerID": "  "}),                            # 7 empty user
        json.dumps({**good, "overall": "five"}),                             # 8 not a number
        json.dumps({**good, "unixReviewTime": "soon"}),                      # 9 bad timestamp
        json.dumps({k: v for k, v in good.items() if k != "unixReviewTime"}
                   | {"reviewTime": "13th of May"}),                         # 10 bad reviewTime
        json.dumps({"user_id": "U1", "rating": 4.0, "timestamp": 1}),        # 11 no parent_asin
        json.dumps({"user_id": "U1", "parent_asin": "P", "rating": None}),   # 12 rating null
        json.dumps({**good, "reviewerID": "caf"}).encode().replace(b"caf", b"caf\xe9"),  # 13
        "",                                                                  # blank: skipped
        json.dumps({**good, "overall": float("nan")}),                       # 15 NaN rating
        "{'reviewerID': 'A9', 'asin': 'B9', 'overall': 1.0,",                # 16 cut literal
        json.dumps(good),                                                    # 17 ok
    ]
    path = write_lines(tmp_path / "Books.json", lines)
    run = Run(tmp_path)
    rows = run.reviews(path)
    assert [r["line"] for r in rows] == [1, 17]
    got = [(q["file"], q["line"], q["column"], q["reason"]) for q in run.quarantine()]
    f = str(path)
    assert got == [
        (f, 2, None, "invalid json"),
        (f, 3, None, "not an object"),
        (f, 4, None, "invalid json"),
        (f, 5, "reviewerID", "missing field"),
        (f, 6, "asin", "missing field"),
        (f, 7, "reviewerID", "empty value"),
        (f, 8, "overall", "not a number"),
        (f, 9, "unixReviewTime", "bad timestamp"),
        (f, 10, "reviewTime", "bad timestamp"),
        (f, 11, "parent_asin", "missing field"),
        (f, 12, "rating", "missing field"),
        (f, 13, None, "bad encoding"),
        (f, 15, "overall", "not a number"),
        (f, 16, None, "invalid json"),
    ]
    check_counts(run, path, 16, 2)  # the blank line is no row


def test_quarantine_keeps_raw_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "Books.json", ['{"reviewerID": "A1", "asin": "B1"}'])
    run = Run(tmp_path)
    assert run.reviews(path) == []
    (q,) = run.quarantine()
    assert q["raw"] == '{"reviewerID": "A1", "asin": "B1"}'
    assert q["column"] == "overall" and q["reason"] == "missing field"
    assert "overall" in q["detail"]


def test_truncated_gzip_fails_naming_the_file(tmp_path: Path) -> None:
    # ids from a hash so the stream compresses poorly and the cut lands mid-file
    import hashlib

    lines = [json.dumps({"reviewerID": hashlib.sha256(str(i).encode()).hexdigest(),
                         "asin": f"B{i}", "overall": 4.0, "unixReviewTime": 1400000000 + i})
             for i in range(2000)]
    full = tmp_path / "full.json.gz"
    write_lines(full, lines, gz=True)
    data = full.read_bytes()
    path = tmp_path / "Books.json.gz"
    path.write_bytes(data[: len(data) // 2])
    run = Run(tmp_path)
    with pytest.raises(InputDataError, match="truncated or corrupt after line") as err:
        run.reviews(path)
    assert str(path) in str(err.value)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "Books.json"
    path.write_bytes(b"")
    run = Run(tmp_path)
    assert run.reviews(path) == []
    assert str(path) in run.log.files
    check_counts(run, path, 0, 0)
    assert run.quarantine() == []


def test_min_rating_is_filtered_not_quarantined(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "Books.json.gz", [
        json.dumps({"reviewerID": f"A{i}", "asin": "B1", "overall": float(i)})
        for i in range(1, 6)
    ], gz=True)
    run = Run(tmp_path)
    rows = run.reviews(path, min_rating=4.0)
    assert [r["rating"] for r in rows] == [4.0, 5.0]
    tally = run.log.files[str(path)]
    assert tally.filtered == {"below min_rating": 3}
    assert not tally.quarantined
    check_counts(run, path, 5, 2)


def test_parquet_given_as_reviews_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "Books.json"  # the name lies; the first bytes do not
    pq.write_table(pa.table({"reviewerID": ["A1"]}), path)
    run = Run(tmp_path)
    with pytest.raises(InputDataError, match="Parquet"):
        read_reviews(AmazonSource(path=str(path)), path, "books", INGEST, run.log, 10)
    with pytest.raises(InputDataError, match="Parquet"):
        read_metadata(path, "books", run.log, 10)


def test_batches_respect_rows_per_batch(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "Books.json", [
        json.dumps({"reviewerID": f"A{i}", "asin": "B1", "overall": 5.0}) for i in range(7)
    ])
    run = Run(tmp_path)
    cfg = AmazonSource(path=str(path))
    sizes = [b.num_rows for b in read_reviews(cfg, path, "books", INGEST, run.log, 3)]
    assert sizes == [3, 3, 1]


# --- metadata ---------------------------------------------------------------------------------


def test_metadata_2014_loose_json(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "meta_Sports_and_Outdoors.json.gz", [
        "{'asin': '0000031852', 'title': 'Girls Ballet Tutu Zebra Hot Pink', 'price': 3.17, "
        "'imUrl': 'http://x/y.jpg', 'related': {'also_bought': ['B00JHONN1S']}, "
        "'salesRank': {'Toys & Games': 211836}, 'brand': 'Coxlures', "
        "'categories': [['Sports & Outdoors', 'Other Sports', 'Dance'], ['Clothing']]}",
        "{'asin': 'B1', 'categories': [[]], 'description': 'no title'}",
        "{'title': 'no asin'}",
    ], gz=True)
    run = Run(tmp_path)
    rows = run.metadata(path, "sports_and_outdoors")
    assert [(r["item_id"], r["domain"], r["title"], r["categories"], r["price"], r["brand"])
            for r in rows] == [
        ("sports_and_outdoors:0000031852", "sports_and_outdoors",
         "Girls Ballet Tutu Zebra Hot Pink", ["Sports & Outdoors", "Other Sports", "Dance"],
         pytest.approx(3.17), "Coxlures"),
        ("sports_and_outdoors:B1", "sports_and_outdoors", None, None, None, None),
    ]
    assert [(q["line"], q["column"], q["reason"]) for q in run.quarantine()] == [
        (3, "asin", "missing field")]
    check_counts(run, path, 3, 2)


@pytest.mark.parametrize(("price", "expected"), [
    ("$8.99", 8.99),
    ("$8.99 - $12.00", 8.99),
    ("$1,299.00", 1299.0),
    (".a-box-inner{background-color:#fff;}", None),
    ("", None),
    ("None", None),
    ("nan", None),
    ("1_000", None),
    (12, 12.0),
    (None, None),
    (True, None),
    (1e300, None),
])
def test_metadata_2018_prices(tmp_path: Path, price: object, expected: float | None) -> None:
    path = write_lines(tmp_path / "meta_Books.json", [json.dumps({
        "category": ["Books", "Literature & Fiction"], "title": "  A Book ", "brand": "Penguin",
        "asin": "0001", "price": price, "main_cat": "Books"})])
    run = Run(tmp_path)
    (row,) = run.metadata(path)
    assert (row["item_id"], row["title"], row["categories"], row["brand"]) == (
        "books:0001", "A Book", ["Books", "Literature & Fiction"], "Penguin")
    assert row["price"] == (None if expected is None else pytest.approx(expected))
    assert run.quarantine() == []  # a bad price is no reason to drop an item


def test_metadata_2023(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "meta_All_Beauty.jsonl", [
        json.dumps({"main_category": "All Beauty", "title": "Howard LC0008", "price": None,
                    "store": "Howard Products", "categories": [], "details": {"Brand": "H"},
                    "parent_asin": "B01CUPMQZE"}),
        json.dumps({"main_category": "All Beauty", "title": "Brush", "price": 9.5,
                    "store": None, "categories": ["Beauty", "Tools"],
                    "details": {"Brand": "Acme"}, "parent_asin": "B02"}),
        json.dumps({"main_category": "All Beauty", "title": "no id", "store": "S"}),
        json.dumps({"main_category": "All Beauty", "parent_asin": ""}),
        "not json at all",
    ])
    run = Run(tmp_path)
    rows = run.metadata(path, "all_beauty")
    assert [(r["item_id"], r["title"], r["categories"], r["price"], r["brand"])
            for r in rows] == [
        ("all_beauty:B01CUPMQZE", "Howard LC0008", ["All Beauty"], None, "Howard Products"),
        ("all_beauty:B02", "Brush", ["Beauty", "Tools"], 9.5, "Acme"),
    ]
    assert [(q["line"], q["column"], q["reason"]) for q in run.quarantine()] == [
        (3, "parent_asin", "missing field"),
        (4, "parent_asin", "empty value"),
        (5, None, "invalid json"),
    ]
    check_counts(run, path, 5, 2)


# --- domain names -----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "domain"), [
    ("reviews_Sports_and_Outdoors_5.json.gz", "sports_and_outdoors"),
    ("Clothing_Shoes_and_Jewelry.jsonl.gz", "clothing_shoes_and_jewelry"),
    ("meta_Sports_and_Outdoors.json.gz", "sports_and_outdoors"),
    ("/data/raw/Movies_and_TV_5.json", "movies_and_tv"),
    ("https://example.org/amazon/meta_All_Beauty.jsonl.gz?download=1", "all_beauty"),
    ("Clothing, Shoes & Jewelry.json", "clothing_shoes_jewelry"),
    ("Books.json.gz", "books"),
])
def test_domain_from_filename(name: str, domain: str) -> None:
    assert domain_from_filename(name) == domain


@pytest.mark.parametrize("name", ["5core.json.gz", "reviews_.json", "___.jsonl",
                                  "A_" * 20 + ".json.gz"])
def test_domain_from_filename_rejects(name: str) -> None:
    with pytest.raises(InputDataError, match="set `domain`"):
        domain_from_filename(name)
