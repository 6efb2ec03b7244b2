"""Streaming text input: plain or gzipped files, decoded line by line.

Lines are decoded one at a time so a single undecodable line is quarantined (with its number)
instead of failing the file, and a gzip stream that ends early keeps every line before the cut.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from crossrec.collect.rows import RowLog
from crossrec.errors import InputDataError

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


def decoded_lines(path: Path, encoding: str, log: RowLog) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` for each line (1-based, newline stripped, blank lines skipped).

    A line that does not decode is quarantined; a truncated or corrupt gzip stream is recorded
    as one quarantined entry at the line where it broke, and reading stops there.
    """
    file = str(path)
    line_no = 0
    with open_binary(path) as fh:
        lines = iter(fh)
        while True:
            try:
                raw = next(lines)
            except StopIteration:
                return
            except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
                log.bad(file, line_no + 1, None, "truncated file",
                        f"compressed stream broken after line {line_no}: {exc}")
                log.warn(file, f"file truncated after line {line_no}")
                return
            line_no += 1
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                log.bad(file, line_no, None, "bad encoding", f"not valid {encoding}: {exc}",
                        raw.decode(encoding, errors="replace"))
                continue
            text = text.rstrip("\r\n")
            if text.strip():
                yield line_no, text
