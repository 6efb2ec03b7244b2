"""Amazon product reviews and item metadata (McAuley et al.), streamed line by line.

Three vintages of the data set are read, told apart per line by their keys:

* 2014 and 2018 reviews: ``reviewerID``, ``asin``, ``overall``, ``unixReviewTime`` (epoch
  seconds) and ``reviewTime`` (``"09 13, 2009"``). The 2014 files may be "loose JSON", i.e.
  Python dict literals with single quotes.
* 2023 reviews: ``user_id``, ``parent_asin`` (the item id; ``asin`` when absent), ``rating``,
  ``timestamp`` (epoch *milliseconds*).

Metadata (title, categories, price, brand) comes in the matching three shapes. Files may be
plain or gzipped (``decoded_lines``); nothing is ever loaded whole. Every line ends up yielded,
quarantined (``RowLog.bad``) or filtered (below ``min_rating``), so the per-file counts add up.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pyarrow as pa

from crossrec.collect.fields import F32_MAX, FieldError, clean_id, epoch_us, float32, midnight_us
from crossrec.collect.rows import Batcher, Limits, OddTimes, RowLog
from crossrec.collect.sources import DOMAIN_PATTERN, AmazonSource, is_url
from crossrec.collect.textlines import LIMITS, decoded_lines, expect_text
from crossrec.errors import InputDataError
from crossrec.schemas import item_key

SOURCE = "amazon"
ENCODING = "utf-8"  # every vintage is published as UTF-8

_F32_MAX = F32_MAX  # ratings and prices are stored as float32: larger is inf
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_US = 86_400 * 1_000_000
_MIN_US, _MAX_US = -62_135_596_800_000_000, 253_402_300_799_000_000  # years 1..9999

# Which keys a review of each vintage uses: user, item candidates (first present wins),
# rating, time and the multiplier that turns its time into microseconds.
_OLD = ("reviewerID", ("asin",), "overall", "unixReviewTime", 1_000_000)
_NEW = ("user_id", ("parent_asin", "asin"), "rating", "timestamp", 1_000)
_NEW_HINTS = ("parent_asin", "rating", "timestamp")  # 2023 keys absent from 2014/2018 lines
_META_2023_HINTS = frozenset(("parent_asin", "main_category", "store"))

_raw_decode = json.JSONDecoder().raw_decode

_EXTENSIONS = (".gz", ".jsonl", ".json")
_PREFIXES = ("reviews_", "meta_")
_KCORE_SUFFIX = "_5"
_CURRENCY = "$€£ "


class _BadLine(Exception):
    """One line that cannot be used: carries what ``RowLog.bad`` needs."""

    def __init__(self, column: str | None, reason: str, detail: str):
        super().__init__(detail)
        self.column, self.reason, self.detail = column, reason, detail


def domain_from_filename(path: str) -> str:
    """The domain of an Amazon file from its name: ``reviews_Sports_and_Outdoors_5.json.gz``,
    ``Sports_and_Outdoors.jsonl.gz`` and ``meta_Sports_and_Outdoors.json.gz`` all give
    ``sports_and_outdoors``. Raises ``InputDataError`` when no valid domain results."""
    name = path.split("?", 1)[0].split("#", 1)[0] if is_url(path) else path  # drop ?query
    name = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    stem = name
    stripped = True
    while stripped:  # ".json.gz", ".jsonl.gz", ".json", ...
        stripped = False
        for ext in _EXTENSIONS:
            if stem.lower().endswith(ext):
                stem, stripped = stem[: -len(ext)], True
    for prefix in _PREFIXES:
        if stem.lower().startswith(prefix):
            stem = stem[len(prefix):]
            break
    if stem.endswith(_KCORE_SUFFIX):
        stem = stem[: -len(_KCORE_SUFFIX)]
    chars = [c if ("a" <= c <= "z" or "0" <= c <= "9") else "_" for c in stem.lower()]
    # "Clothing, Shoes & Jewelry" -> "clothing_shoes_jewelry", not "clothing__shoes___jewelry"
    domain = "_".join(part for part in "".join(chars).split("_") if part)
    if not re.fullmatch(DOMAIN_PATTERN, domain):
        raise InputDataError(
            f"{path}: cannot derive a domain from the file name (got {domain!r}, which does not "
            f"match {DOMAIN_PATTERN}); set `domain` in the source config"
        )
    return domain


def _parse_line(text: str) -> dict:
    """A line as a dict: JSON first (fast), then a Python dict literal (the 2014 files)."""
    try:
        # raw_decode skips json.loads' two whitespace regex matches: ~35% faster per line
        obj, end = _raw_decode(text)
        if end != len(text):
            obj = _slow_parse(text)  # trailing text or whitespace
    except (ValueError, RecursionError):
        obj = _slow_parse(text)
    if type(obj) is not dict:
        raise _BadLine(None, "not an object",
                       f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _slow_parse(text: str) -> object:
    """Lines the fast path refused: padded JSON, a BOM, or 2014's Python dict literals."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        json_error = exc
    stripped = text.lstrip("\ufeff \t")
    if stripped != text:
        try:
            return json.loads(stripped)
        except (ValueError, RecursionError):
            pass
    if stripped.startswith("{"):  # only a dict literal can be a row: skip literal_eval else
        try:
            # literal_eval, never eval: it builds literals only and runs no code
            obj = ast.literal_eval(stripped)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            pass
        else:
            if type(obj) is dict:
                return obj
            raise _BadLine(None, "not an object",
                           f"expected a dict literal, got {type(obj).__name__}")
    raise _BadLine(None, "invalid json",
                   f"neither JSON nor a Python dict literal: {json_error}")


def _id(value: object, key: str, max_chars: int) -> str:
    if type(value) is str:  # fast path: almost every id is short printable ASCII
        out = value.strip()
        if out and out.isascii() and out.isprintable() and len(out) <= max_chars:
            return out
    elif value is None:
        raise _BadLine(key, "missing field", f"{key} is missing")
    try:  # a lone surrogate (JSON "\ud800"), a control character, too long, ...
        return clean_id(value, key, max_chars)
    except FieldError as exc:
        raise _BadLine(key, exc.reason, str(exc)) from None


def _unicode(key: str, value: str | None) -> None:
    """A kept text attribute must be writable: a broken ``\\u`` escape (a lone surrogate) is
    not UTF-8 and would fail the whole batch at the Parquet writer."""
    if value is not None and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _BadLine(key, "bad encoding", f"{key} is not valid Unicode (a broken \\u "
                           f"escape): {value[:80]!r}") from None


def _rating(value: object, key: str) -> float:
    if value is None:
        raise _BadLine(key, "missing field", f"{key} is missing")
    if type(value) is float:  # fast path; also rejects NaN and +-inf (JSON allows them)
        out = value
    else:
        try:
            out = float32(value, key)
        except FieldError as exc:
            raise _BadLine(key, exc.reason, str(exc)) from None
        except OverflowError:  # an integer too large for a float
            raise _BadLine(key, "not a number", f"{key} is out of range: {value!r}") from None
    if -_F32_MAX <= out <= _F32_MAX:
        return out
    raise _BadLine(key, "not a number", f"{key} is not a finite float32: {value!r}")


def _event_us(value: object, key: str, scale: int) -> int:
    if type(value) is int:  # fast path: epoch seconds (2014/2018) or ms (2023) as JSON ints
        out = value * scale
        if _MIN_US <= out <= _MAX_US:
            return out
        raise _BadLine(key, "bad timestamp", f"{key} is out of range: {value!r}")
    try:
        return epoch_us(value, "s" if scale == 1_000_000 else "ms", key)
    except (FieldError, OverflowError) as exc:
        raise _BadLine(key, "bad timestamp", f"{key} is not an epoch time: {exc}") from None


def _review_time_us(value: object) -> int:
    """2014/2018 ``reviewTime``: ``"MM DD, YYYY"`` (day granularity, midnight UTC)."""
    try:
        month, day, year = str(value).replace(",", " ").split()
        ordinal = date(int(year), int(month), int(day)).toordinal()
    except (ValueError, TypeError):
        raise _BadLine("reviewTime", "bad timestamp",
                       f"reviewTime is not 'MM DD, YYYY': {value!r}") from None
    return (ordinal - _EPOCH_ORDINAL) * _DAY_US


def read_reviews(cfg: AmazonSource, path: Path, domain: str, ingest_date: date, log: RowLog,
                 rows_per_batch: int, limits: Limits = LIMITS) -> Iterator[pa.RecordBatch]:
    """``STAGED`` batches of one review file (any vintage, plain or gzipped).

    A Parquet file fails here, at the call, not at the first ``next``.
    """
    expect_text(path, "Amazon JSON lines")
    batcher = Batcher(str(path), SOURCE, log, rows_per_batch)
    return _reviews(cfg, path, domain, midnight_us(ingest_date), log, batcher, limits)


def _reviews(cfg: AmazonSource, path: Path, domain: str, default_us: int, log: RowLog,
             batcher: Batcher, limits: Limits) -> Iterator[pa.RecordBatch]:
    file = str(path)
    min_rating = cfg.min_rating
    add = batcher.add
    max_id = limits.max_id_chars
    odd = OddTimes(file, log, default_us)
    high = odd.high
    for line_no, text in decoded_lines(path, ENCODING, log, limits):
        try:
            obj = _parse_line(text)
            if "reviewerID" in obj:
                user_key, item_keys, rating_key, ts_key, scale = _OLD
            elif "user_id" in obj or any(k in obj for k in _NEW_HINTS):
                user_key, item_keys, rating_key, ts_key, scale = _NEW
            else:  # no user key at all: report the far more common 2014/2018 one
                user_key, item_keys, rating_key, ts_key, scale = _OLD
            user = _id(obj.get(user_key), user_key, max_id)
            item_key_name = item_keys[0]
            raw_item = obj.get(item_key_name)
            if (raw_item is None or raw_item == "") and len(item_keys) > 1:
                # 2023: parent_asin groups an item's variants; a line without it keeps asin
                alt = obj.get(item_keys[1])
                if alt is not None:
                    item_key_name, raw_item = item_keys[1], alt
            item = _id(raw_item, item_key_name, max_id)
            rating = _rating(obj.get(rating_key), rating_key)
            ts = obj.get(ts_key)
            if ts is not None and ts != "":
                event_us = _event_us(ts, ts_key, scale)
            elif scale == 1_000_000 and obj.get("reviewTime"):
                event_us = _review_time_us(obj["reviewTime"])
            else:
                event_us = default_us
            if not 0 < event_us < high:
                odd.note(line_no, event_us)
        except _BadLine as bad:
            log.bad(file, line_no, bad.column, bad.reason, bad.detail, text)
            continue
        if min_rating is not None and rating < min_rating:
            log.filtered(file, "below min_rating")
            continue
        batch = add(user_id=user, item_id=item_key(domain, item), domain=domain,
                    event_ts=event_us, rating=rating, line=line_no)
        if batch is not None:
            yield batch
    odd.finish()
    batch = batcher.flush()
    if batch is not None:
        yield batch


def read_metadata(path: Path, domain: str, log: RowLog, rows_per_batch: int,
                  limits: Limits = LIMITS) -> Iterator[pa.RecordBatch]:
    """``ITEMS_STAGED`` batches of one metadata file (any vintage, plain or gzipped).

    Quarantined: an unparsable line, a missing/empty/invalid item id, and a kept text (title,
    category, brand) that is not valid Unicode (``bad encoding``). Every other attribute
    problem is optional data: a price that is not a number becomes None instead.
    """
    expect_text(path, "Amazon metadata JSON lines")
    batcher = Batcher(str(path), SOURCE, log, rows_per_batch, items=True)
    return _metadata(path, domain, log, batcher, limits)


def _metadata(path: Path, domain: str, log: RowLog, batcher: Batcher,
              limits: Limits) -> Iterator[pa.RecordBatch]:
    file = str(path)
    add = batcher.add
    max_id = limits.max_id_chars
    for line_no, text in decoded_lines(path, ENCODING, log, limits):
        try:
            obj = _parse_line(text)
            # 2023 keys items by parent_asin (as its reviews do); 2014/2018 by asin
            key, raw_item = "parent_asin", obj.get("parent_asin")
            if raw_item is None or raw_item == "":
                alt = obj.get("asin")
                if alt is not None or not _META_2023_HINTS.intersection(obj):
                    key, raw_item = "asin", alt
            item = _id(raw_item, key, max_id)
            title, categories, brand = _text(obj.get("title")), _categories(obj), _brand(obj)
            _unicode("title", title)
            _unicode("brand", brand)
            for category in categories or ():
                _unicode("categories", category)
        except _BadLine as bad:
            log.bad(file, line_no, bad.column, bad.reason, bad.detail, text)
            continue
        batch = add(item_id=item_key(domain, item), domain=domain, title=title,
                    categories=categories, price=_price(obj.get("price")), brand=brand,
                    line=line_no)
        if batch is not None:
            yield batch
    batch = batcher.flush()
    if batch is not None:
        yield batch


def _text(value: object) -> str | None:
    """An optional text attribute: stripped, None when empty or not a scalar."""
    if type(value) is str:
        value = value.strip()
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # e.g. a title "1984" that JSON made a number
    return None


def _text_list(values: list) -> list[str] | None:
    out = [v.strip() for v in values if type(v) is str and v.strip()]
    return out or None


def _categories(obj: dict) -> list[str] | None:
    """Category path, broadest first: 2014 ``categories`` is a list of paths (the first is
    kept), 2018 ``category`` and 2023 ``categories`` are one path; 2023 falls back to
    ``main_category``."""
    cats = obj.get("categories")
    if type(cats) is list and cats:
        first = cats[0]
        out = _text_list(first) if type(first) is list else _text_list(cats)
        if out:
            return out
    cats = obj.get("category")
    if type(cats) is list and cats:
        out = _text_list(cats)
        if out:
            return out
    main = _text(obj.get("main_category"))
    return [main] if main else None


def _price(value: object) -> float | None:
    """A price or None: numbers as they are, 2018's text ``"$8.99"``, ranges
    ``"$8.99 - $12.00"`` (the lower end); anything else (HTML fragments, "None") is None."""
    if type(value) is float or type(value) is int:
        out = float(value) if abs(value) <= _F32_MAX else float("inf")
    elif type(value) is str:
        low = value.strip()
        if not low.startswith("-"):
            low = low.split("-", 1)[0]  # the lower end of a range
        low = low.strip(_CURRENCY).replace(",", "")
        if not low or "_" in low:  # float() would read "1_000" as 1000
            return None
        try:
            out = float(low)
        except ValueError:
            return None
    else:
        return None
    return out if 0.0 <= out <= _F32_MAX else None  # also drops NaN and inf


def _brand(obj: dict) -> str | None:
    """2014/2018 ``brand``; 2023 ``store``, else ``details["Brand"]``."""
    brand = _text(obj.get("brand")) or _text(obj.get("store"))
    if brand is None:
        details = obj.get("details")
        if type(details) is dict:
            brand = _text(details.get("Brand"))
    return brand
