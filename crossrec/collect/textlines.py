"""Streaming text input: plain or gzipped files, decoded line by line.

Lines are decoded one at a time so a single undecodable line is quarantined (with its number)
instead of failing the file; a line over the length limit is quarantined without being held in
memory; a gzip stream that is cut or expands like a decompression bomb fails the file.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import BinaryIO, Literal, NamedTuple

from crossrec.collect.rows import RAW_LIMIT, Limits, RowLog
from crossrec.errors import InputDataError

LIMITS = Limits()
_RATIO_FLOOR = 16 * 2**20  # the ratio is checked once this much was decompressed
_SKIP_CHUNK = 1 << 20
NEWLINE = b"\n"

Kind = Literal["empty", "gzip", "parquet", "text"]


def sniff(path: Path) -> Kind:
    """What a file is, from its first bytes (never from its name)."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if not head:
        return "empty"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if head == b"PAR1":
        return "parquet"
    return "text"


def expect_text(path: Path, what: str) -> Kind:
    """Fail clearly when a text reader is pointed at a Parquet file."""
    kind = sniff(path)
    if kind == "parquet":
        raise InputDataError(f"{path}: is a Parquet file, not {what} (check the source's kind)")
    return kind


def open_binary(path: Path) -> BinaryIO:
    return gzip.open(path, "rb") if sniff(path) == "gzip" else path.open("rb")  # type: ignore[return-value]


class TooLong(NamedTuple):
    """A line over ``max_line_bytes``, already skipped: its length (without the newline) and
    its first bytes."""

    length: int
    head: bytes


def raw_lines(path: Path, limits: Limits = LIMITS) -> Iterator[tuple[int, bytes | TooLong]]:
    """``(line_number, bytes)`` for each physical line (1-based, newline kept), or
    ``(line_number, TooLong)`` for one over ``limits.max_line_bytes``, skipped in chunks and
    never held whole. Nothing is logged here, so a reader may read ahead and still report
    each line in order. A gzip input that expands more than ``limits.max_gzip_ratio`` times,
    or whose stream is truncated or corrupt, raises ``InputDataError`` naming the file and
    the line."""
    zipped = sniff(path) == "gzip"
    max_line = limits.max_line_bytes
    with path.open("rb") as raw, (gzip.GzipFile(fileobj=raw, mode="rb") if zipped
                                  else nullcontext(raw)) as fh:
        readline = fh.readline
        line_no = 0
        total = 0  # decompressed bytes so far
        check_at = _RATIO_FLOOR
        while True:
            try:
                data = readline(max_line + 1)
                if len(data) > max_line and data[-1:] != b"\n":  # over the limit: skip the rest
                    length = len(data)
                    while (chunk := readline(_SKIP_CHUNK)) and chunk[-1:] != b"\n":
                        length += len(chunk)
                        if zipped and total + length >= check_at:
                            _check_ratio(path, total + length, raw.tell(), limits, line_no + 1)
                            check_at = total + length + _SKIP_CHUNK
                    length += len(chunk)
                    line_no += 1
                    total += length
                    yield line_no, TooLong(length - (chunk[-1:] == NEWLINE), data[:RAW_LIMIT])
                    continue
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
                raise InputDataError(
                    f"{path}: the gzip stream is truncated or corrupt after line {line_no} "
                    f"({exc}); the collection fails and the previous landing stays (fix or "
                    "re-download the file)") from None
            if not data:
                return
            line_no += 1
            total += len(data)
            if zipped and total >= check_at:
                _check_ratio(path, total, raw.tell(), limits, line_no)
                check_at = total + _SKIP_CHUNK
            yield line_no, data


def too_long(file: str, line_no: int, line: TooLong, encoding: str, log: RowLog,
             limits: Limits) -> None:
    log.bad(file, line_no, None, "line too long",
            f"{line.length:,} bytes, over max_line_bytes ({limits.max_line_bytes:,}); skipped",
            line.head.decode(encoding, errors="replace"))


def line_text(file: str, line_no: int, data: bytes, encoding: str, log: RowLog) -> str | None:
    """One line's text (newline stripped; the byte-order mark dropped on line 1), or None
    after quarantining it as ``bad encoding``."""
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        log.bad(file, line_no, None, "bad encoding", f"not valid {encoding}: {exc}",
                data.decode(encoding, errors="replace"))
        return None
    if line_no == 1 and text.startswith("\ufeff"):
        text = text[1:]  # a byte-order mark: else the first header name hides it
    return text.rstrip("\r\n")


def decoded_lines(path: Path, encoding: str, log: RowLog, limits: Limits = LIMITS,
                  keep_blank: bool = False) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` for each line (1-based, newline stripped; blank lines skipped
    unless ``keep_blank``). A UTF-8 byte-order mark at the start of the file is dropped.

    Memory stays bounded whatever the input: a line longer than ``limits.max_line_bytes`` is
    quarantined (``line too long``) and skipped in chunks, never held whole; a line that does
    not decode is quarantined (``bad encoding``). A gzip input that expands more than
    ``limits.max_gzip_ratio`` times, or whose stream is truncated or corrupt, fails with
    ``InputDataError`` naming the file and the line: the file is not half-collected.
    """
    file = str(path)
    for line_no, data in raw_lines(path, limits):
        if type(data) is TooLong:
            too_long(file, line_no, data, encoding, log, limits)
            continue
        text = line_text(file, line_no, data, encoding, log)  # type: ignore[arg-type]
        if text is not None and (keep_blank or text.strip()):
            yield line_no, text


def _check_ratio(path: Path, expanded: int, compressed: int, limits: Limits,
                 line_no: int) -> None:
    if expanded > limits.max_gzip_ratio * max(compressed, 1):
        raise InputDataError(
            f"{path}: gzip input expands more than {limits.max_gzip_ratio:g} times "
            f"({expanded:,} bytes from the first {compressed:,} compressed bytes, at line "
            f"{line_no}): refused as a likely decompression bomb; if the file is genuine, "
            "raise [collect] max_gzip_ratio")
