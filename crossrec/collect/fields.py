"""Parsing of single field values, shared by every reader.

Each parser returns the clean value or raises ``FieldError`` whose ``reason`` is a short
category (counted in the summary) and whose message is the specific problem.
"""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC, date, datetime, timedelta

_MS_THRESHOLD = 1e11  # epoch seconds stay below this until the year 5138; milliseconds do not
_MIN_US, _MAX_US = -62_135_596_800_000_000, 253_402_300_799_000_000  # years 1 to 9999 (UTC)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
F32_MAX = 3.4028234663852886e38  # ratings and prices are stored as float32: larger is inf
MAX_ID_CHARS = 2048  # default of ``[collect] max_id_chars``
_CONTROL = frozenset(("Cc", "Zl", "Zp"))  # control characters and line/paragraph separators


class FieldError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def text_id(value: object, what: str) -> str:
    """An id: a non-empty string or an integer (ids like 17 in JSON), stripped."""
    if value is None:
        raise FieldError("missing value", f"{what} is missing")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise FieldError("bad type", f"{what} must be text or an integer, got {value!r}")
    out = str(value).strip()
    if not out:
        raise FieldError("empty value", f"{what} is empty")
    if not out.isascii():
        try:  # a JSON \u escape can decode to a lone surrogate, which no file or table can hold
            out.encode("utf-8")
        except UnicodeEncodeError:
            raise FieldError("bad encoding", f"{what} is not valid Unicode: {value!r}") from None
    return out


def clean_id(value: object, what: str, max_chars: int = MAX_ID_CHARS) -> str:
    """``text_id``, and also refused: an id longer than ``max_chars`` characters, or one that
    holds a control character (NUL, a tab, a line break, ...) or a line/paragraph separator."""
    out = text_id(value, what)
    if len(out) > max_chars:
        raise FieldError("id too long", f"{what} has {len(out):,} characters, over the limit "
                         f"of {max_chars:,} ([collect] max_id_chars)")
    if not out.isprintable():  # cheap screen: also False for odd spaces, which are allowed
        for i, c in enumerate(out):
            if unicodedata.category(c) in _CONTROL:
                raise FieldError("control character", f"{what} holds the control character "
                                 f"{c!r} at position {i + 1}: {out[:80]!r}")
    return out


def number(value: object, what: str) -> float:
    """A finite number, from a number or its text. Text must be ASCII without ``_``: Python's
    ``float`` reads ``"5_000"`` as 5000 and ``"５"`` as 5, which no data file means."""
    if isinstance(value, bool):
        raise FieldError("not a number", f"{what} is a boolean: {value!r}")
    if type(value) is str and ("_" in value or not value.isascii()):
        raise FieldError("not a number", f"{what} is not a number: {value!r}")
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise FieldError("not a number", f"{what} is not a number: {value!r}") from None
    if not math.isfinite(out):
        raise FieldError("not a number", f"{what} is not finite: {value!r}")
    return out


def float32(value: object, what: str) -> float:
    """``number``, also refused when float32 (how ratings are stored) cannot hold it: beyond
    ``F32_MAX`` it would land as +-inf."""
    out = number(value, what)
    if -F32_MAX <= out <= F32_MAX:
        return out
    raise FieldError("not a number", f"{what} is beyond the float32 range (it would be stored "
                     f"as {'-' if out < 0 else '+'}inf): {value!r}")


def epoch_us(value: object, unit: str, what: str) -> int:
    """Microseconds since the epoch (UTC) from epoch seconds/ms/us or ISO 8601 text."""
    if value is None or value == "":
        raise FieldError("missing value", f"{what} is missing")
    if isinstance(value, datetime):
        out = _datetime_us(value)
    elif unit == "iso" or (unit == "auto" and isinstance(value, str) and not _numeric(value)):
        try:
            dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise FieldError("bad timestamp", f"{what} is not ISO 8601: {value!r}") from None
        out = _datetime_us(dt)
    else:
        x = number(value, what)
        if unit == "auto":
            unit = "ms" if abs(x) > _MS_THRESHOLD else "s"
        scale = {"s": 1_000_000, "ms": 1_000, "us": 1}[unit]
        try:
            out = int(x * scale)
        except OverflowError:
            raise FieldError("bad timestamp", f"{what} is out of range: {value!r}") from None
    # ISO times too: an offset can push year 1 or 9999 past what a timestamp column holds
    if not (_MIN_US <= out <= _MAX_US):
        raise FieldError("bad timestamp", f"{what} is out of range: {value!r}")
    return out


def _datetime_us(dt: datetime) -> int:
    """Exact microseconds since the epoch; naive times are taken as UTC.

    Integer arithmetic: ``dt.timestamp() * 1e6`` goes through a float and is 1 us off for
    about one time in a hundred."""
    return ((dt if dt.tzinfo else dt.replace(tzinfo=UTC)) - _EPOCH) // _US


def midnight_us(day: date) -> int:
    """The ingest date's midnight (UTC): the event time of sources that carry none."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000


def _numeric(text: str) -> bool:
    if "_" in text or not text.isascii():
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True
