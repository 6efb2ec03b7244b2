"""Click simulator: how the synthetic world's users react to published recommendations.

It closes the feedback loop without real traffic. Each user with a list scrolls down to a
random depth (rank ``r`` is seen with probability ``r**-eta``: position bias); every seen item
is logged as an impression and clicked with probability ``sigmoid(a * preference + b)``, where
``preference`` is the world's ground-truth logit; a click turns into a purchase with
probability ``purchase_rate * P(click)``, so liked items also sell more.

Real click logs are messy, so the delivered file is too, each at a configurable rate: exact
duplicate lines, late events (the session happened the day before but arrives in today's
file) and malformed lines (missing field, non-numeric rank, unknown event type, bad timestamp
text, truncated JSON). ``SimulatedDay`` keeps the clean truth next to the mess, so ingestion
tests know exactly what should come out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field

from crossrec.collect.synthetic import SyntheticWorld
from crossrec.schemas import CLICKS, EVENT_TYPES
from crossrec.strict import StrictModel

_US = 1_000_000
_DAY_US = 86400 * _US
_SESSION_ROOM_S = 3600  # sessions start early enough to end on the same day
_MAX_SCROLL_S, _MAX_CLICK_S, _MAX_BUY_S = 600, 600, 1800  # caps: 3000 s < the room above
_DUPLICATE_LAG = 50.0  # a duplicate line arrives within this many lines after its original
_LINE_CHUNK = 200_000  # lines encoded per write: bounds the string buffers
_NEEDS_ESCAPE = r'["\\\x00-\x1f]'  # characters a JSON string literal must escape
MALFORMED_KINDS = ("missing_field", "bad_rank", "unknown_event_type", "bad_timestamp",
                   "truncated")
_BAD_RANKS = ("top", "n/a", "", "3rd")
_BAD_TYPES = ("hover", "view", "add_to_cart", "share")
_BAD_TIMESTAMPS = ("not-a-timestamp", "2026-13-45T25:61:00Z", "yesterday", "1700000000abc")


class ClickSimConfig(StrictModel):
    eta: float = Field(1.0, ge=0.0)
    """Position bias: rank ``r`` is seen with probability ``r**-eta`` (0 = every rank)."""
    click_scale: float = 0.6
    """``a`` in P(click | seen) = sigmoid(a * preference + b): how much taste matters."""
    click_bias: float = -2.5
    """``b`` in P(click | seen) = sigmoid(a * preference + b): the base click rate."""
    purchase_rate: float = Field(0.5, ge=0.0, le=1.0)
    """P(purchase | click) = purchase_rate * P(click | seen)."""
    duplicate_rate: float = Field(0.01, ge=0.0, le=1.0)
    """Share of events delivered twice (an exact duplicate line, same event_id)."""
    late_rate: float = Field(0.02, ge=0.0, le=1.0)
    """Share of user sessions that happened the day before but arrive in today's file."""
    malformed_rate: float = Field(0.005, ge=0.0, le=1.0)
    """Malformed lines added to the file, as a share of the well-formed events."""
    seed: int = 0
    """Seed of the simulator (mixed with both dates, so each day differs)."""


@dataclass(frozen=True)
class SimulatedDay:
    """One day of click log: the clean truth plus the mess the delivered file carries."""

    events: pa.Table
    """Well-formed unique events (schema CLICKS) in delivery order, late ones included."""
    duplicate_of: np.ndarray
    """Row in ``events`` of each duplicate line."""
    duplicate_pos: np.ndarray
    """Where each duplicate line goes: a line position key (event ``i`` sits at ``i``)."""
    malformed_lines: list[str]
    """Raw malformed lines (no trailing newline)."""
    malformed_pos: np.ndarray
    """Where each malformed line goes, as a line position key."""
    malformed_kinds: dict[str, int]
    """How many malformed lines of each kind (``MALFORMED_KINDS``)."""
    n_late: int
    """Events in ``events`` whose event_ts lies on the day before the event date."""
    expected_counts: dict[str, int]
    """Clean unique events per event type: what an ingestion should keep."""

    @property
    def n_duplicates(self) -> int:
        return len(self.duplicate_of)

    @property
    def n_malformed(self) -> int:
        return len(self.malformed_lines)

    def event_dicts(self) -> Iterator[dict[str, Any]]:
        """The well-formed events as JSON-ready dicts (what a JSONL line parses to)."""
        for batch in self.events.to_batches(max_chunksize=_LINE_CHUNK):
            for row in batch.to_pylist():
                yield _json_ready(row)


def _json_ready(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "event_ts": row["event_ts"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "rec_run_date": row["rec_run_date"].isoformat()}


# ---- simulation ---------------------------------------------------------------------------


def simulate(world: SyntheticWorld, recs: pa.Table, rec_run_date: date, event_date: date,
             cfg: ClickSimConfig | None = None) -> SimulatedDay:
    """Users' reactions on ``event_date`` to the lists published on ``rec_run_date``.

    ``recs`` needs user_id, item_id, rank (1 = top) and model_version; pairs the world does
    not know (NaN preference) are seen but never clicked. The result depends only on the
    inputs' content (not their row order), ``cfg`` and the two dates.
    """
    cfg = cfg or ClickSimConfig()
    rng = np.random.default_rng([cfg.seed % 2**64, event_date.toordinal(),
                                 rec_run_date.toordinal()])
    recs = _sorted_recs(recs)
    rows, types, ts_us, late = _react(world, recs, event_date, cfg, rng)
    # Delivery order: by when the event happened (late sessions arrive in their on-time slot).
    order = np.lexsort((rows, types, ts_us))
    rows, types, ts_us, late = rows[order], types[order], ts_us[order], late[order]
    ts_us = ts_us - np.where(late, _DAY_US, 0)
    events = _events_table(recs, rows, types, ts_us, rec_run_date, event_date, cfg.seed)
    n = events.num_rows
    dup = np.flatnonzero(rng.random(n) < cfg.duplicate_rate)
    dup_pos = dup + rng.uniform(0.0, _DUPLICATE_LAG, size=len(dup)) + 0.5
    bad_lines, kinds = _malformed(events, rng, rng.binomial(n, cfg.malformed_rate))
    counts = np.bincount(types, minlength=len(EVENT_TYPES))
    return SimulatedDay(
        events=events,
        duplicate_of=dup,
        duplicate_pos=dup_pos,
        malformed_lines=bad_lines,
        malformed_pos=rng.uniform(0.0, max(n, 1), size=len(bad_lines)),
        malformed_kinds=kinds,
        n_late=int(late.sum()),
        expected_counts={t: int(c) for t, c in zip(EVENT_TYPES, counts, strict=True)},
    )


def _sorted_recs(recs: pa.Table) -> pa.Table:
    """The needed columns, by (user, rank, item): row order of the input must not matter."""
    recs = recs.select(["user_id", "item_id", "rank", "model_version"])
    recs = recs.cast(pa.schema([("user_id", pa.string()), ("item_id", pa.string()),
                                ("rank", pa.int16()), ("model_version", pa.string())]))
    keys = [("user_id", "ascending"), ("rank", "ascending"), ("item_id", "ascending"),
            ("model_version", "ascending")]
    return recs.take(pc.sort_indices(recs, sort_keys=keys)).combine_chunks()


def _react(world: SyntheticWorld, recs: pa.Table, event_date: date, cfg: ClickSimConfig,
           rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Events as (rec row, event type code, on-time ts in us, late?) arrays."""
    n = recs.num_rows
    user = recs["user_id"].combine_chunks()
    new_user = np.ones(n, dtype=bool)
    if n > 1:
        new_user[1:] = pc.not_equal(user[1:], user[:-1]).to_numpy(zero_copy_only=False)
    session = np.cumsum(new_user) - 1
    n_sessions = int(session[-1]) + 1 if n else 0
    day_us = int(datetime(event_date.year, event_date.month, event_date.day,
                          tzinfo=UTC).timestamp()) * _US
    start = day_us + rng.integers(0, (86400 - _SESSION_ROOM_S) * _US, size=n_sessions)
    depth = rng.random(n_sessions)  # scroll depth: rank r seen iff r**-eta >= depth
    late_session = rng.random(n_sessions) < cfg.late_rate

    rank = np.maximum(recs["rank"].to_numpy(), 1).astype(np.float64)
    seen = rank**-cfg.eta >= depth[session]
    pref = world.preference(user, recs["item_id"])
    known = ~np.isnan(pref)
    p_click = np.zeros(n)
    p_click[known] = _sigmoid(cfg.click_scale * pref[known] + cfg.click_bias)
    clicked = seen & (rng.random(n) < p_click)
    bought = clicked & (rng.random(n) < cfg.purchase_rate * p_click)

    seen_ts = start[session] + np.minimum((rank - 1) * 0.5 * _US, _MAX_SCROLL_S * _US).astype(
        np.int64) + rng.integers(0, _US, size=n)
    click_ts = seen_ts + _delay_us(rng, n, 2.0, 20.0, _MAX_CLICK_S)
    buy_ts = click_ts + _delay_us(rng, n, 30.0, 300.0, _MAX_BUY_S)
    parts = [(seen, 0, seen_ts), (clicked, 1, click_ts), (bought, 2, buy_ts)]
    rows = np.concatenate([np.flatnonzero(mask) for mask, _, _ in parts])
    types = np.concatenate([np.full(int(mask.sum()), code, np.int8) for mask, code, _ in parts])
    ts = np.concatenate([t[mask] for mask, _, t in parts])
    return rows, types, ts, late_session[session[rows]]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -x))  # no overflow for very negative x


def _delay_us(rng: np.random.Generator, n: int, least_s: float, mean_s: float,
              cap_s: int) -> np.ndarray:
    """Reaction delays: a minimum plus an exponential tail, capped to keep the day."""
    delay = np.minimum(least_s + rng.exponential(mean_s, size=n), cap_s)
    return (delay * _US).astype(np.int64)


def _events_table(recs: pa.Table, rows: np.ndarray, types: np.ndarray, ts_us: np.ndarray,
                  rec_run_date: date, event_date: date, seed: int) -> pa.Table:
    n = len(rows)
    take = pa.array(rows, type=pa.int64())
    prefix = f"ev-{event_date:%Y%m%d}-{rec_run_date:%Y%m%d}-{seed}-"
    columns = {
        "event_id": _ids(prefix, np.arange(n)),
        "event_ts": pa.array(ts_us, type=pa.int64()).cast(CLICKS.field("event_ts").type),
        "user_id": recs["user_id"].take(take),
        "item_id": recs["item_id"].take(take),
        "event_type": pa.array(np.array(EVENT_TYPES, dtype=object)[types], type=pa.string()),
        "rec_run_date": pa.repeat(pa.scalar(rec_run_date, pa.date32()), n),
        "rank": recs["rank"].take(take),
        "model_version": recs["model_version"].take(take),
    }
    return pa.Table.from_arrays([pa.chunked_array([c]) if isinstance(c, pa.Array) else c
                                 for c in columns.values()], schema=CLICKS).combine_chunks()


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    text = pc.utf8_lpad(pc.cast(pa.array(numbers, type=pa.int64()), pa.string()), width=9,
                        padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


# ---- malformed lines ----------------------------------------------------------------------


def _malformed(events: pa.Table, rng: np.random.Generator,
               n_bad: int) -> tuple[list[str], dict[str, int]]:
    """``n_bad`` broken lines, each a corrupted copy of a random event under a fresh id."""
    kinds = {k: 0 for k in MALFORMED_KINDS}
    if not events.num_rows or not n_bad:
        return [], kinds
    picks = rng.integers(0, events.num_rows, size=n_bad)
    kind_idx = rng.integers(0, len(MALFORMED_KINDS), size=n_bad)
    templates = events.take(pa.array(picks)).to_pylist()
    lines = []
    for i, (row, k) in enumerate(zip(templates, kind_idx, strict=True)):
        record = _json_ready(row)
        record["event_id"] = f"{record['event_id']}-bad{i}"  # never collides with a clean id
        lines.append(_corrupt(record, MALFORMED_KINDS[k], rng))
    kinds.update(Counter(MALFORMED_KINDS[k] for k in kind_idx))
    return lines, kinds


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(0, len(options)))]


def _corrupt(record: dict[str, Any], kind: str, rng: np.random.Generator) -> str:
    match kind:
        case "missing_field":
            del record[_pick(rng, list(record))]
        case "bad_rank":
            record["rank"] = _pick(rng, _BAD_RANKS)
        case "unknown_event_type":
            record["event_type"] = _pick(rng, _BAD_TYPES)
        case "bad_timestamp":
            record["event_ts"] = _pick(rng, _BAD_TIMESTAMPS)
        case "truncated":
            line = _dumps(record)
            return line[: int(rng.integers(1, len(line) - 1))]  # never the closing brace
    return _dumps(record)


def _dumps(value: Any) -> str:
    """Compact JSON, UTF-8 kept as is: the same text the column-wise encoder writes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# ---- writers ------------------------------------------------------------------------------


def write_jsonl(day: SimulatedDay, path: Path) -> Path:
    """The delivered file: events, duplicates and malformed lines, deterministically mixed."""
    lines = pa.concat_arrays([
        json_lines(day.events),
        json_lines(day.events.take(pa.array(day.duplicate_of, type=pa.int64()))),
        pa.array(day.malformed_lines, type=pa.string()),
    ])
    keys = np.concatenate([np.arange(day.events.num_rows, dtype=np.float64), day.duplicate_pos,
                           day.malformed_pos])
    order = np.argsort(keys, kind="stable")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        for start in range(0, len(order), _LINE_CHUNK):
            _write_lines(lines.take(pa.array(order[start:start + _LINE_CHUNK])), fh)
    return path


def write_parquet(day: SimulatedDay, path: Path) -> Path:
    """The clean events only (schema CLICKS): the reference an ingestion should reproduce."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(day.events, path)
    return path


def json_lines(events: pa.Table) -> pa.Array:
    """One compact JSON object per event (no newline), built column-wise, not row by row."""
    if not events.num_rows:
        return pa.array([], type=pa.string())
    # Casting the tz-naive (still UTC) timestamps is ~10x faster than strftime; the text is
    # "YYYY-MM-DD HH:MM:SS.ffffff", so only the separator needs fixing.
    naive = pc.cast(events["event_ts"], pa.timestamp("us"))
    ts = pc.replace_substring(pc.cast(naive, pa.string()), " ", "T", max_replacements=1)
    pieces = [
        '{"event_id":', _json_strings(events["event_id"]),
        ',"event_ts":"', ts, 'Z","user_id":', _json_strings(events["user_id"]),
        ',"item_id":', _json_strings(events["item_id"]),
        ',"event_type":', _json_strings(events["event_type"]),
        ',"rec_run_date":"', pc.cast(events["rec_run_date"], pa.string()),
        '","rank":', pc.cast(events["rank"], pa.string()),
        ',"model_version":', _json_strings(events["model_version"]), "}",
    ]
    joined = pc.binary_join_element_wise(*pieces, "")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _json_strings(column: pa.ChunkedArray) -> pa.Array:
    """JSON string literals of a column (quoted, escaped where needed)."""
    column = column.combine_chunks()
    if not pc.any(pc.match_substring_regex(column, _NEEDS_ESCAPE)).as_py():
        return pc.binary_join_element_wise('"', column, '"', "")  # the usual case: ids
    # Escape each distinct value once, in Python.
    encoded = pc.dictionary_encode(column)
    literals = pa.array([_dumps(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return literals.take(encoded.indices)


def _write_lines(lines: pa.Array, fh: BinaryIO) -> None:
    """Write the lines newline-terminated, straight from the Arrow buffer."""
    text = pc.binary_join_element_wise(lines, "\n", "")
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=len(text) + 1,
                            offset=text.offset * 4)
    fh.write(memoryview(text.buffers()[2])[offsets[0]:offsets[-1]])
