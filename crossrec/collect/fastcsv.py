"""The CSV fast path: runs of plain lines parsed and checked column-wise, everything else by
the row parser.

It must land exactly what the line-by-line reader (``generic._csv_rows`` with
``fast=False``) lands, and quarantine, filter and warn exactly as it does. So it decides
nothing it is unsure of: a line is taken column-wise only when its CSV structure is
unambiguous, and a row lands column-wise only when every check passes with a strict subset
of what ``RowParser.parse`` accepts; any other line is handed back to the line-by-line
reader, in line order, which alone decides its fate.

``Lines`` reads the file in blocks (``raw_lines``: the same reads, limits and gzip errors as
``decoded_lines``) and classifies each line of a block with numpy:

- *clean*: UTF-8, every ``"`` opens a field right after a delimiter or the line start and
  closes it right before a delimiter or the line end, with no delimiter, quote, CR or NUL
  inside; no NUL anywhere; a CR only right before the newline; exactly ``width`` fields;
  not empty; no longer than the csv module's field size limit. Python's csv reader gives
  these the fields Arrow's CSV parser gives, quotes removed.
- *structural*: a line that is not clean and holds a quote (it may open a record spanning
  lines), or that does not decode: a run stops before it and the line-by-line reader takes
  it, with all the lines its record runs into.
- any other line is a record of one line (no quote, so the csv reader cannot carry it over)
  and goes back to the line-by-line reader as part of its run.

Column checks (``_check``) run on clean lines only; a row that fails or is uncertain (an
id that is not printable ASCII, a number in a form the regex does not cover, an ISO time,
an event time outside ``(0, OddTimes.high)`` that must be counted in order) goes back to the
line-by-line reader too.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from crossrec.collect.fields import F32_MAX, FieldError, float32
from crossrec.collect.rows import RAW_LIMIT, Limits, RowLog
from crossrec.collect.textlines import TooLong, line_text, raw_lines, sniff, too_long
from crossrec.errors import InputDataError
from crossrec.schemas import item_keys

BLOCK_BYTES = 4 * 2**20  # a block is cut at a line end once it holds this much
BLOCK_LINES = 65_536
_SKIP = 1 << 20  # a line too long is skipped in pieces of this size
MIN_RUN = 16  # shorter runs are cheaper line by line
_QUOTE, _NL, _CR, _NUL = 34, 10, 13, 0
# what Python's float() reads and this path converts with Arrow (correctly rounded, like
# Python): no spaces, no "_", no inf/nan, ASCII digits only
NUMBER = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_MS_THRESHOLD = 1e11  # as in fields.epoch_us
_SCALE = {"s": 1e6, "ms": 1e3, "us": 1.0}
_DISTINCT_CHECK = 4096  # a rating column with at most this many values is checked by float32


def eligible(encoding: str, delimiter: str) -> bool:
    """Whether a CSV source can take the fast path: UTF-8 (lines are checked as bytes) and
    an ASCII delimiter that is not a quote or a line break."""
    import codecs

    return (codecs.lookup(encoding).name == "utf-8" and delimiter.isascii()
            and delimiter not in '"\r\n\x00')


class Lines:
    """``decoded_lines(keep_blank=True)`` as an iterator (the line-by-line reader pulls from
    it), which also hands out runs of whole lines (``take_run``). Problems found while
    reading ahead (a line too long, a broken gzip stream) are reported when their line is
    reached, so the log and the error come in the same order as line by line."""

    def __init__(self, path: Path, encoding: str, log: RowLog, limits: Limits, delimiter: str):
        self.file, self.encoding, self.log, self.limits = str(path), encoding, log, limits
        self._blocks = blocks(path, limits)
        self._delim = ord(delimiter)
        self.width = 0  # fields per record, set once the header is read
        self.buf = b""
        self.starts: list[int] = [0]  # line k is buf[starts[k]:starts[k + 1]]
        self.n = 0  # lines in the block
        self.first = 1  # line number of line 0
        self.i = 0  # next line to hand out
        self._event: tuple[int, TooLong] | InputDataError | None = None  # after this block
        self._plan: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> tuple[int, str]:
        while True:
            if self.i < self.n:
                k = self.i
                self.i += 1
                text = line_text(self.file, self.first + k, self.line(k), self.encoding,
                                 self.log)
                if text is not None:
                    return self.first + k, text
                continue
            if self._event is not None:
                event, self._event = self._event, None
                if isinstance(event, InputDataError):
                    raise event
                too_long(self.file, event[0], event[1], self.encoding, self.log, self.limits)
                continue
            if not self._load():
                raise StopIteration

    def line(self, k: int) -> bytes:
        if type(self.starts) is not list:
            self.starts = self.starts.tolist()
        return self.buf[self.starts[k]:self.starts[k + 1]]

    def _load(self) -> bool:
        """Read the next block (or the problem due next); False at the end of the file."""
        self.buf, self.starts, self.n, self.i, self._plan = b"", [0], 0, 0, None
        try:
            item = next(self._blocks)
        except StopIteration:
            return False
        except InputDataError as exc:
            self._event = exc
            return True
        if type(item[1]) is TooLong:
            self._event = item  # type: ignore[assignment]
        else:
            self.first, self.buf, self.starts = item  # type: ignore[assignment]
            self.n = len(self.starts) - 1
        return True

    def text(self, k: int) -> tuple[int, str]:
        """Line ``k`` of the block as the line-by-line reader would get it (it decodes:
        undecodable lines are structural, never in a run)."""
        return self.first + k, line_text(self.file, self.first + k, self.line(k),
                                         self.encoding, self.log)  # type: ignore[return-value]

    def take_run(self) -> tuple[int, int] | None:
        """The next run of block lines ``[i, j)`` to take column-wise, or None when the next
        line must go line by line (it is structural, or a problem is due first)."""
        if self.i >= self.n and (self._event is not None or not self._load() or not self.n):
            return None
        _, clean, stops = self.plan()
        i = self.i
        j = int(stops[np.searchsorted(stops, i)])
        if j - i < MIN_RUN:
            return None
        self.i = j
        return i, j

    def plan(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The block's line starts (one more: the end), clean flags and the sorted indices
        of structural lines (ending with the number of lines)."""
        if self._plan is None:
            starts = np.asarray(self.starts, np.int64)
            self._plan = (starts, *_classify(self.buf, starts, self._delim, self.width,
                                             self.encoding))
        return self._plan


def blocks(path: Path, limits: Limits) -> Iterator[tuple[int, bytes, np.ndarray] |
                                                    tuple[int, TooLong]]:
    """The lines of ``raw_lines`` in blocks ``(first line number, bytes, line starts)``,
    with each line too long as ``(line number, TooLong)`` in its place. A gzip file is read
    by ``raw_lines`` itself, so a broken stream or a bomb fails at the same line and after
    the same reads; a plain file, which has neither, is read in large pieces."""
    if sniff(path) == "gzip":
        yield from _joined(raw_lines(path, limits))
        return
    max_line = limits.max_line_bytes
    line_no = 0
    carry = b""  # the start of a line whose end is not read yet
    with path.open("rb") as fh:
        while True:
            # at least as much again as the carried line: a long line costs linear time
            data = fh.read(max(BLOCK_BYTES, len(carry)))
            buf = carry + data if carry else data
            if not data:
                if buf:
                    yield from _split(buf, line_no + 1, max_line)
                return
            cut = buf.rfind(b"\n") + 1
            carry = buf[cut:]
            if cut:
                *parts, = _split(buf[:cut], line_no + 1, max_line)
                line_no += sum(1 if type(p[1]) is TooLong else len(p[2]) - 1 for p in parts)
                yield from parts
            if len(carry) > max_line:  # a line too long: skip to its end, holding its head
                length, head = len(carry), carry[:min(max_line + 1, RAW_LIMIT)]
                carry = b""
                while chunk := fh.read(_SKIP):
                    end = chunk.find(b"\n")
                    if end >= 0:
                        length += end
                        carry = chunk[end + 1:]
                        break
                    length += len(chunk)
                line_no += 1
                yield line_no, TooLong(length, head)


def _split(buf: bytes, first: int, max_line: int) -> Iterator:
    """Whole lines -> blocks of lines within the limit, and the lines over it."""
    a = np.frombuffer(buf, np.uint8)
    ends = np.flatnonzero(a == _NL) + 1
    if not len(ends) or ends[-1] != len(buf):  # the file's last line, without a newline
        ends = np.append(ends, len(buf))
    starts = np.concatenate(([0], ends))
    content = np.diff(starts) - (a[ends - 1] == _NL)
    at = 0
    for k in np.flatnonzero(content > max_line).tolist():
        if k > at:
            yield first + at, buf[starts[at]:starts[k]], starts[at:k + 1] - starts[at]
        s = int(starts[k])
        yield first + k, TooLong(int(content[k]), buf[s:s + min(max_line + 1, RAW_LIMIT)])
        at = k + 1
    if at < len(ends):
        yield first + at, buf[starts[at]:], starts[at:] - starts[at]


def _joined(lines: Iterator[tuple[int, bytes | TooLong]]) -> Iterator:
    block: list[bytes] = []
    first = 0
    size = 0

    def out():
        lens = np.fromiter(map(len, block), np.int64, len(block))
        return first, b"".join(block), np.concatenate(([0], np.cumsum(lens)))

    try:
        for n, data in lines:
            if type(data) is TooLong:
                if block:
                    yield out()
                    block, size = [], 0
                yield n, data
                continue
            if not block:
                first = n
            block.append(data)  # type: ignore[arg-type]
            size += len(data)
            if size >= BLOCK_BYTES or len(block) >= BLOCK_LINES:
                yield out()
                block, size = [], 0
    except InputDataError:
        if block:  # the lines before the failure first
            yield out()
        raise
    if block:
        yield out()


def _classify(buf: bytes, starts: np.ndarray, delim: int, width: int, encoding: str):
    n = len(starts) - 1
    a = np.frombuffer(buf, np.uint8)
    ends = starts[1:]
    lens = np.diff(starts)
    nl = a[ends - 1] == _NL
    content = lens - nl
    last = np.maximum(ends - nl - 1, 0)
    cr_end = (content > 0) & (a[last] == _CR)
    special = (a == _QUOTE) | (a == delim) | (a == _NL) | (a == _CR) | (a == _NUL)
    pos = np.flatnonzero(special)
    kind = a[pos]
    is_q, is_d, is_nl = kind == _QUOTE, kind == delim, kind == _NL
    # neighbours; a virtual line end before the block and after its last byte
    prev_k = np.concatenate(([_NL], kind[:-1]))
    prev_p = np.concatenate(([-1], pos[:-1]))
    next_k = np.concatenate((kind[1:], [_NL]))
    next_p = np.concatenate((pos[1:], [len(buf)]))
    opener = (is_q & (next_k == _QUOTE) & ((prev_k == delim) | (prev_k == _NL))
              & (prev_p == pos - 1))
    closer = (is_q & (prev_k == _QUOTE)
              & ((next_k == delim) | (next_k == _NL) | (next_k == _CR)) & (next_p == pos + 1))
    q_ok = (opener & np.concatenate((closer[1:], [False]))) | \
        (closer & np.concatenate(([False], opener[:-1])))
    cr_ok = (kind == _CR) & (next_k == _NL) & (next_p == pos + 1)
    bad = (is_q & ~q_ok) | ((kind == _CR) & ~cr_ok) | (kind == _NUL)
    line_of = np.cumsum(is_nl) - is_nl
    n_bad = np.bincount(line_of[bad], minlength=n)
    n_delim = np.bincount(line_of[is_d], minlength=n)
    n_quote = np.bincount(line_of[is_q], minlength=n)
    undecodable = np.zeros(n, bool)
    high = np.flatnonzero(a >= 0x80)
    if len(high):
        for k in np.unique(np.searchsorted(ends, high, side="right")).tolist():
            try:
                buf[starts[k]:starts[k + 1]].decode(encoding)
            except UnicodeDecodeError:
                undecodable[k] = True
    clean = ((n_bad == 0) & (n_delim == width - 1) & (content - cr_end > 0)
             & (content <= csv.field_size_limit()) & ~undecodable)
    structural = ((n_quote > 0) & ~clean) | undecodable
    stops = np.concatenate((np.flatnonzero(structural), [n]))
    return clean, stops


class FastRun:
    """Checks the clean lines of a run column-wise, against ``RowParser``'s settings."""

    def __init__(self, parser, lines: Lines, index: dict[str, int], delimiter: str,
                 schema: pa.Schema, source: str):
        self.p, self.lines = parser, lines
        self.cols = {c: f"f{index[c]}" for c in parser.required_columns()}
        self.parse = pcsv.ParseOptions(delimiter=delimiter, quote_char='"', double_quote=False,
                                       escape_char=False, newlines_in_values=False,
                                       ignore_empty_lines=False)
        self.convert = pcsv.ConvertOptions(
            include_columns=sorted(set(self.cols.values())),
            column_types={v: pa.string() for v in self.cols.values()},
            strings_can_be_null=False, quoted_strings_can_be_null=False)
        self.schema, self.source = schema, source
        self.ts_unit = parser.cfg.ts_unit

    def split(self, i: int, j: int) -> tuple[list[int], pa.Table | None, int]:
        """Block lines ``[i, j)`` -> (lines for the line-by-line reader, good rows as a
        table with ``line``, rows filtered below ``min_rating``)."""
        starts, clean, _ = self.lines.plan()
        buf = self.lines.buf
        cl = clean[i:j]
        good = np.flatnonzero(cl) + i
        slow = np.flatnonzero(~cl) + i
        if not len(good):
            return slow.tolist(), None, 0
        table = self._read(buf, starts, good)
        ok, values = self._check(table)
        rows = np.flatnonzero(ok)
        slow = np.union1d(slow, good[~ok]).tolist()
        if not len(rows):
            return slow, None, 0
        rating = values["rating"]
        kept = rows
        filtered = 0
        if self.p.min_rating is not None:
            r = rating.take(pa.array(rows)) if rating is not None else None
            below = (np.ones(len(rows), bool) if r is None else
                     pc.fill_null(pc.less(r, self.p.min_rating), True).to_numpy(
                         zero_copy_only=False))
            filtered = int(below.sum())
            kept = rows[~below]
        take = pa.array(kept)
        lines = (good[kept] + self.lines.first).astype(np.int64)
        user, item = values["user"].take(take), values["item"].take(take)
        domain = values["domain"]
        domain = (pa.array(np.full(len(kept), domain, object), pa.string())
                  if isinstance(domain, str) else domain.take(take))
        ts = pa.array(values["ts"][kept]).cast(pa.timestamp("us", tz="UTC"))
        rating = (pa.nulls(len(kept), pa.float32()) if rating is None
                  else rating.take(take).cast(pa.float32()))
        out = pa.table({"user_id": user, "item_id": item_keys(domain, item), "domain": domain,
                        "event_ts": ts, "rating": rating, "line": pa.array(lines)})
        return slow, out, filtered

    def _read(self, buf: bytes, starts: np.ndarray, good: np.ndarray) -> pa.Table:
        # maximal stretches of consecutive clean lines, joined without the others
        cut = np.flatnonzero(np.diff(good) != 1) + 1
        firsts = good[np.concatenate(([0], cut))]
        lasts = good[np.concatenate((cut - 1, [len(good) - 1]))]
        view = memoryview(buf)
        data = b"".join(view[s:e] for s, e in zip(starts[firsts].tolist(),
                                                  starts[lasts + 1].tolist(), strict=True))
        if not data.endswith(b"\n"):
            data += b"\n"
        table = pcsv.read_csv(pa.BufferReader(data), read_options=pcsv.ReadOptions(
            autogenerate_column_names=True, block_size=max(1 << 20, len(data) // 2 + 1)),
            parse_options=self.parse, convert_options=self.convert)
        if table.num_rows != len(good):  # cannot happen for clean lines; never guess
            raise _Unsure(f"Arrow read {table.num_rows} rows of {len(good)}")
        return table.combine_chunks()

    def _check(self, table: pa.Table) -> tuple[np.ndarray, dict]:
        p = self.p
        n = table.num_rows
        ok = np.ones(n, bool)
        values: dict = {}
        for key, col in (("user", p.user_col), ("item", p.item_col)):
            values[key], good = self._id(table[self.cols[col]].chunk(0) if n else
                                         pa.array([], pa.string()), p.max_id)
            ok &= good
        if p.domain_col is None:
            values["domain"] = p.cfg.domain
        else:
            values["domain"], good = self._domain(table[self.cols[p.domain_col]].chunk(0))
            ok &= good
        values["rating"] = None
        if p.rating_col is not None:
            values["rating"], good = self._rating(table[self.cols[p.rating_col]].chunk(0))
            ok &= good
        if p.ts_col is None:
            ts = np.full(n, p.default_ts, np.int64)
            good = np.full(n, 0 < p.default_ts < p.odd_times.high)
        else:
            ts, good = self._ts(table[self.cols[p.ts_col]].chunk(0))
        values["ts"] = ts
        ok &= good
        return ok, values

    @staticmethod
    def _id(s: pa.Array, max_id: int) -> tuple[pa.Array, np.ndarray]:
        # printable ASCII only: then str.strip() removes exactly the spaces at the ends
        printable = pc.ascii_is_printable(s)
        t = pc.utf8_trim(s, " ")
        length = pc.binary_length(t)
        good = pc.and_(printable, pc.and_(pc.greater(length, 0),
                                          pc.less_equal(length, max_id)))
        return t, good.to_numpy(zero_copy_only=False)

    def _domain(self, s: pa.Array) -> tuple[pa.Array, np.ndarray]:
        t = pc.utf8_trim(s, " ")
        enc = pc.dictionary_encode(t)
        verdict = []
        for value in enc.dictionary.to_pylist():  # the parser's own check, once per value
            try:
                verdict.append(value.isascii() and value.isprintable()
                               and self.p._domain(value) == value)
            except FieldError:
                verdict.append(False)
        # t is s less spaces at the ends: printable t means printable s
        return t, np.asarray(verdict, bool)[enc.indices.to_numpy()]

    def _rating(self, s: pa.Array) -> tuple[pa.Array, np.ndarray]:
        enc = pc.dictionary_encode(s)
        values = enc.dictionary.to_pylist()
        if len(values) <= _DISTINCT_CHECK:  # few distinct values: float32() itself decides
            out, verdict = [], []
            for v in values:
                try:
                    out.append(None if v == "" else float32(v, "rating"))
                    verdict.append(True)
                except FieldError:
                    out.append(None)
                    verdict.append(False)
            idx = enc.indices
            return (pa.array(out, pa.float64()).take(idx),
                    np.asarray(verdict, bool)[idx.to_numpy()])
        empty = pc.equal(s, "").to_numpy(zero_copy_only=False)
        x, good = _numbers(s)
        good &= np.abs(x) <= F32_MAX
        x = np.where(good, x, 0.0)
        return (pa.array(x, mask=empty | ~good), good | empty)

    def _ts(self, s: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        n = len(s)
        if self.ts_unit == "iso":  # fromisoformat's forms are left to the row parser
            return np.zeros(n, np.int64), np.zeros(n, bool)
        x, good = _numbers(s)
        if self.ts_unit == "auto":
            scale = np.where(np.abs(x) > _MS_THRESHOLD, 1e3, 1e6)
        else:
            scale = _SCALE[self.ts_unit]
        us = np.trunc(x * scale)  # int(x * scale): the same float product, cut toward zero
        # only times the row parser would not count as odd (those go in line order)
        good &= (us > 0) & (us < self.p.odd_times.high)
        return np.where(good, us, 0).astype(np.int64), good


def _numbers(s: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Float values of the texts that match ``NUMBER`` (0 elsewhere) and that mask; a value
    too large for a double (inf) is not good."""
    good = pc.match_substring_regex(s, NUMBER).to_numpy(zero_copy_only=False)
    picked = s.filter(pa.array(good))
    x = np.zeros(len(s))
    x[good] = pc.cast(picked, pa.float64()).to_numpy(zero_copy_only=False)
    good &= np.isfinite(x)
    return np.where(good, x, 0.0), good


class _Unsure(Exception):
    """The column-wise reading disagrees with the line classification: go line by line."""


def run_rows(fast: FastRun, i: int, j: int, record_lines, one, end) -> Iterator:
    """Rows of block lines ``[i, j)`` in line order: the column-wise ones merged with the
    rows the line-by-line reader (``one``, reading ``record_lines``) makes of the lines
    handed back to it."""
    lines = fast.lines
    try:
        slow, table, filtered = fast.split(i, j)
    except (_Unsure, pa.ArrowInvalid):
        slow, table, filtered = list(range(i, j)), None, 0
    if filtered:
        fast.p.log.filtered(fast.p.file, "below min_rating", filtered)
    record_lines.give_back([lines.text(k) for k in slow])
    rows: list[tuple] = []
    try:
        # a blank line handed back last lets the reader go on into the lines after the run:
        # those are its rows too, still in line order
        while record_lines.pending():
            row = one()
            if row is end:
                break
            if row is not None:
                rows.append(row)
    except InputDataError:
        # the file fails further on (a broken gzip stream): hand out what came before it
        # first, so the rows counted are the line-by-line reader's
        yield from _merged(fast, table, rows)
        raise
    yield from _merged(fast, table, rows)


def _merged(fast: FastRun, table: pa.Table | None, rows: list[tuple]) -> Iterator:
    if rows:
        cols = list(zip(*rows, strict=True))
        extra = pa.table({
            "user_id": pa.array(cols[0], pa.string()), "item_id": pa.array(cols[1], pa.string()),
            "domain": pa.array(cols[2], pa.string()),
            "event_ts": pa.array(cols[3], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
            "rating": pa.array(cols[4], pa.float32()), "line": pa.array(cols[5], pa.int64())})
        table = extra if table is None else pa.concat_tables([table, extra])
        table = table.take(pc.sort_indices(table["line"]))
    if table is None or not table.num_rows:
        return
    n = table.num_rows
    const = pa.array(np.full(n, fast.p.file, object), pa.string())
    source = pa.array(np.full(n, fast.source, object), pa.string())
    table = table.append_column("file", const).append_column("source", source)
    yield from table.select(fast.schema.names).cast(fast.schema).combine_chunks().to_batches()
